"""Test helpers: the shipped demo set and small COCO sets written by the test."""
from __future__ import annotations

import json
import os

import cv2
import numpy as np

from configs.schema import SourceConfig, load_config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO_CONFIG = os.path.join(ROOT, "configs", "demo.yaml")
DEMO_DATA = os.path.join(ROOT, "data", "demo")


def circle_polygon(cx: float, cy: float, r: float, n: int = 24) -> list[float]:
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return [float(v) for pt in zip(cx + r * np.cos(t), cy + r * np.sin(t)) for v in pt]


def write_coco(folder: str, images: dict[str, np.ndarray], annotations: list[dict],
               categories=({"id": 1, "name": "apple"},), extra_images=()) -> tuple[str, str]:
    """Write RGB arrays as JPEGs and a COCO json; returns (json path, images folder)."""
    img_dir = os.path.join(folder, "images")
    os.makedirs(img_dir, exist_ok=True)
    entries = []
    for i, (name, rgb) in enumerate(images.items(), 1):
        cv2.imwrite(os.path.join(img_dir, name), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        entries.append({"id": i, "file_name": name, "height": rgb.shape[0], "width": rgb.shape[1]})
    entries += list(extra_images)
    path = os.path.join(folder, "instances.json")
    with open(path, "w") as f:
        json.dump({"images": entries, "annotations": annotations, "categories": list(categories)}, f)
    return path, img_dir


def demo_config(*overrides: str):
    return load_config(DEMO_CONFIG, list(overrides))


def write_openimages(folder, masks: dict[str, tuple[str, str, np.ndarray]], labels: dict[str, str],
                     header: bool = True) -> SourceConfig:
    """Open Images V7 files: images/<id>.jpg, masks/<MaskPath>, the segmentation and class CSVs.
    ``masks``: MaskPath -> (ImageID, LabelName, HxW bool)."""
    for sub in ("images", "masks"):
        os.makedirs(os.path.join(folder, sub), exist_ok=True)
    rows = ["MaskPath,ImageID,LabelName,BoxID,BoxXMin,BoxXMax,BoxYMin,BoxYMax,PredictedIoU,Clicks"]
    for mask_path, (image_id, label, mask) in masks.items():
        cv2.imwrite(os.path.join(folder, "masks", mask_path), mask.astype(np.uint8) * 255)
        rows.append(f"{mask_path},{image_id},{label},{mask_path.split('_')[-1][:8]},0.1,0.9,0.1,0.9,0.87,")
    with open(os.path.join(folder, "segmentation.csv"), "w") as f:
        f.write("\n".join(rows) + "\n")
    with open(os.path.join(folder, "classes.csv"), "w") as f:
        f.write(("LabelName,DisplayName\n" if header else "") + "".join(f"{k},{v}\n" for k, v in labels.items()))
    return SourceConfig(kind="openimages", name="oi", annotations=os.path.join(folder, "segmentation.csv"),
                        images=os.path.join(folder, "images"), masks=os.path.join(folder, "masks"),
                        classes=os.path.join(folder, "classes.csv"))
