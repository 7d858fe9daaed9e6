"""Shared by the benchmarks: a large COCO set made by repeating the shipped demo photos."""
from __future__ import annotations

import json
import os
import resource
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
DEMO = os.path.join(ROOT, "data", "demo")
DEMO_CONFIG = os.path.join(ROOT, "configs", "demo.yaml")


def repeated_demo(folder: str, n_images: int) -> str:
    """Write an instances json of ``n_images`` entries cycling over the demo photos; return its path."""
    coco = json.load(open(os.path.join(DEMO, "instances.json")))
    images, anns = [], []
    for i in range(n_images):
        im = coco["images"][i % len(coco["images"])]
        new_id = i + 1
        images.append({**im, "id": new_id})
        anns += [{**a, "id": new_id * 100 + a["id"], "image_id": new_id}
                 for a in coco["annotations"] if a["image_id"] == im["id"]]
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "instances.json")
    json.dump({**coco, "images": images, "annotations": anns}, open(path, "w"))
    return path


def peak_rss_mb(children: bool = False) -> float:
    who = resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF
    return resource.getrusage(who).ru_maxrss / 1024
