"""Random brush masks: BrushNet's free-form strokes as a masker (``masks.kind: brush``).

Each mask draws 1 to ``max_strokes`` strokes; a stroke starts at a random pixel and takes ``min_vertices``
to ``max_vertices`` steps of random length (normal around ``radius`` x the image diagonal) at angles that
alternate around 2*pi/5, drawn as a thick polyline with round joints (width a share of the short side).
Then random flips, an optional opening (erode then dilate) and an optional inversion. Everything random
comes from a generator seeded by the image key (sha256), so a key always gets the same masks, on any
worker and any run. BrushNet's trainer opens (p=0.3) and inverts (p=0.5) at training time, so both
default to 0 here: a dataset made for it should not apply them twice.
"""
from __future__ import annotations

import math

import cv2
import numpy as np

from configs.schema import BrushConfig, Config
from transforms.core.keys import key_seed, safe_key
from transforms.core.records import ImageRecord, ObjectRef, Reject, object_key, reject_object
from transforms.maskers.candidates import STAGE, make_candidate, with_candidates

MEAN_ANGLE = 2 * math.pi / 5
ANGLE_RANGE = 2 * math.pi / 15


def stroke_points(rng: np.random.Generator, h: int, w: int, cfg: BrushConfig) -> np.ndarray:
    """Nx2 int32 (x, y) vertices of one stroke, inside the h x w frame (N = 1 + vertices)."""
    mean_r = cfg.radius * math.hypot(h, w)
    n = int(rng.integers(cfg.min_vertices, cfg.max_vertices + 1))
    lo, hi = MEAN_ANGLE - rng.uniform(0, ANGLE_RANGE), MEAN_ANGLE + rng.uniform(0, ANGLE_RANGE)
    x, y = float(rng.integers(0, w)), float(rng.integers(0, h))
    points = [(x, y)]
    for i in range(n):
        angle = rng.uniform(lo, hi)
        angle = 2 * math.pi - angle if i % 2 == 0 else angle
        r = float(np.clip(rng.normal(mean_r, mean_r / 2), 0, 2 * mean_r))
        x, y = float(np.clip(x + r * math.cos(angle), 0, w - 1)), float(np.clip(y + r * math.sin(angle), 0, h - 1))
        points.append((x, y))
    return np.round(np.asarray(points)).astype(np.int32)


def draw_stroke(mask: np.ndarray, points: np.ndarray, width: int) -> None:
    """Draw a polyline of ``width`` px with round joints into an HxW uint8 mask (value 1), in place."""
    if len(points) > 1:
        cv2.polylines(mask, [points.reshape(-1, 1, 2)], False, 1, thickness=width, lineType=cv2.LINE_8)
    for x, y in points:
        cv2.circle(mask, (int(x), int(y)), width // 2, 1, thickness=-1)


def brush_mask(h: int, w: int, cfg: BrushConfig, rng: np.random.Generator) -> np.ndarray:
    """One random brush mask: HxW bool (True = region to inpaint)."""
    mask = np.zeros((h, w), np.uint8)
    short = min(h, w)
    for _ in range(int(rng.integers(1, cfg.max_strokes + 1))):
        width = max(1, round(rng.uniform(cfg.min_width, cfg.max_width) * short))
        draw_stroke(mask, stroke_points(rng, h, w, cfg), width)
    if rng.random() < 0.5:
        mask = mask[::-1]
    if rng.random() < 0.5:
        mask = mask[:, ::-1]
    if rng.random() < cfg.erode_dilate:
        k = np.ones((max(1, short // 64),) * 2, np.uint8)
        mask = cv2.dilate(cv2.erode(np.ascontiguousarray(mask), k), k)
    out = mask.astype(bool)
    return ~out if rng.random() < cfg.invert else out


def propose_brush(rec: ImageRecord, cfg: Config) -> list[ImageRecord | Reject]:
    """``masks.brush.count`` random masks for a loaded image, each a candidate of class
    ``masks.unlabelled_class``; seeds derive from the key, so reruns give the same masks."""
    b = cfg.masks.brush
    h, w = rec.image.shape[:2]
    out: list = []
    for i in range(b.count):
        seed = key_seed(safe_key(rec.key, i), b.seed)
        mask = brush_mask(h, w, b, np.random.default_rng(seed))
        obj = ObjectRef(ann_id=f"b{i:02d}", category_id=-1, class_name=cfg.masks.unlabelled_class)
        if not mask.any():
            out.append(reject_object(rec, object_key(rec, obj), STAGE, "empty_mask"))
            continue
        c = make_candidate(rec, obj, mask, 1.0)
        c.meta["masks"] = {"kind": "brush", "seed": seed}
        rec.candidates.append(c)
    return with_candidates(rec, out)
