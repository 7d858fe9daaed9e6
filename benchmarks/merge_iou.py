"""Where ``source.merge_iou`` should lie: the mask IoU of one object drawn by two annotators against the IoU
of two different objects of one image, on the demo set's annotations (data/demo/instances.json).

A second annotator is simulated the way two datasets' polygons of one object differ (LVIS redrew COCO's
objects): the outline re-traced with fewer vertices (``cv2.approxPolyDP``, tolerance in px), every vertex
moved by up to ``jitter`` px, the outline grown or shrunk by 1 px. Distinct objects: every pair of two
annotations of one image. The threshold belongs between the two distributions: above every distinct pair,
below the same objects' low tail. Prints both distributions' quantiles; no argument needed.

    python benchmarks/merge_iou.py
"""
from __future__ import annotations

import itertools
import json
import os
import sys

import cv2
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from transforms.core.masks import decode_segmentation   # noqa: E402
from transforms.maskers.merge import mask_iou            # noqa: E402

DEMO = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data", "demo", "instances.json")


def redraw(mask: np.ndarray, rng: np.random.Generator, tolerance: float, jitter: float) -> np.ndarray:
    """``mask`` as a second annotator might draw it: simplified outline, moved vertices, 1 px grown/shrunk."""
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    out = np.zeros(mask.shape, np.uint8)
    for c in contours:
        poly = cv2.approxPolyDP(c, tolerance, True).astype(np.float64)
        poly += rng.uniform(-jitter, jitter, poly.shape)
        cv2.fillPoly(out, [np.round(poly).astype(np.int32)], 1)
    op = cv2.dilate if rng.random() < 0.5 else cv2.erode
    return op(out, np.ones((3, 3), np.uint8)).astype(bool)


def main() -> None:
    data = json.load(open(DEMO))
    sizes = {im["id"]: (im["height"], im["width"]) for im in data["images"]}
    masks: dict = {}
    for ann in data["annotations"]:
        masks.setdefault(ann["image_id"], []).append(decode_segmentation(ann["segmentation"], *sizes[ann["image_id"]]))
    rng = np.random.default_rng(0)
    same = {}
    for tolerance, jitter in ((1.0, 1.0), (2.0, 2.0), (4.0, 3.0)):
        same[(tolerance, jitter)] = [mask_iou(m, redraw(m, rng, tolerance, jitter))
                                     for ms in masks.values() for m in ms for _ in range(5)]
    distinct = [mask_iou(a, b) for ms in masks.values() for a, b in itertools.combinations(ms, 2)]
    q = (0, 5, 50, 95, 100)
    print(f"{len(data['annotations'])} objects on {len(masks)} images")
    for (tolerance, jitter), values in same.items():
        print(f"same object redrawn (tolerance {tolerance} px, jitter {jitter} px), n={len(values)}: "
              + ", ".join(f"p{p}={np.percentile(values, p):.3f}" for p in q))
    print(f"two different objects of one image, n={len(distinct)}: "
          + ", ".join(f"p{p}={np.percentile(distinct, p):.3f}" for p in q))


if __name__ == "__main__":
    main()
