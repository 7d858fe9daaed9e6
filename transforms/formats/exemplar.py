"""Paint by Example's two shapes (Yang et al., arXiv 2211.13227), as pure functions of a seed.

- ``irregular_box_mask``: the object's XYXY box made irregular, as PbE's mask shape augmentation does: each
  edge is fitted by a curve (a quadratic Bezier from corner to corner, its middle bent by up to ``bulge`` x the
  edge's length), ``curve_points`` points are sampled on it and moved by 1..``max_offset`` px, and the points
  joined in order form the mask (HxW bool, the image's frame).
- ``reference_params`` / ``augment_reference``: the reference is the object's box (grown by up to ``pad`` px)
  cut from the photo, squeezed to ``reference_size`` x ``reference_size`` and augmented with PbE's list (flip,
  rotation, blur, elastic) plus colour jitter and perspective. The parameters are drawn first (JSON-able, they
  go to the sample's json), then applied by a pure function of them: the same key gives the same bytes.

Images are HxWx3 uint8 RGB; boxes are XYXY pixel boxes (x2, y2 exclusive).
"""
from __future__ import annotations

import cv2
import numpy as np

from configs.schema import ExemplarConfig


def _edge_curve(a: np.ndarray, b: np.ndarray, bend: float, n: int) -> np.ndarray:
    """n points (float, Nx2 XY) on the quadratic Bezier from ``a`` to ``b`` (``b`` excluded) whose control
    point is the edge's middle moved by ``bend`` x the edge's length along the edge's normal."""
    edge = b - a
    normal = np.array([-edge[1], edge[0]]) / max(float(np.hypot(*edge)), 1e-9)
    ctrl = (a + b) / 2 + normal * bend * float(np.hypot(*edge))
    t = np.linspace(0.0, 1.0, n, endpoint=False)[:, None]
    return (1 - t) ** 2 * a + 2 * (1 - t) * t * ctrl + t ** 2 * b


def irregular_box_mask(hw: tuple[int, int], box: list[int], cfg: ExemplarConfig,
                       rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """XYXY ``box`` in an image of size ``hw`` -> (HxW bool irregular mask around it, the drawn parameters)."""
    x1, y1, x2, y2 = box
    corners = np.array([[x1, y1], [x2, y1], [x2, y2], [x1, y2]], float)
    bends = rng.uniform(-cfg.bulge, cfg.bulge, 4)
    points = []
    for i in range(4):
        curve = _edge_curve(corners[i], corners[(i + 1) % 4], float(bends[i]), cfg.curve_points)
        offsets = rng.integers(1, cfg.max_offset + 1, curve.shape) * rng.choice([-1, 1], curve.shape)
        points.append(curve + offsets)
    poly = np.round(np.concatenate(points)).astype(np.int32)
    poly[:, 0] = poly[:, 0].clip(0, hw[1] - 1)
    poly[:, 1] = poly[:, 1].clip(0, hw[0] - 1)
    canvas = np.zeros(hw, np.uint8)
    cv2.fillPoly(canvas, [poly], 1)
    return canvas.astype(bool), {"bends": [round(float(v), 4) for v in bends], "curve_points": cfg.curve_points,
                                 "max_offset": cfg.max_offset}


def reference_box(hw: tuple[int, int], box: list[int], pad: int, rng: np.random.Generator) -> list[int]:
    """The XYXY crop of the reference: ``box`` grown by 0..pad px on each side, clipped to the image."""
    grow = rng.integers(0, pad + 1, 4) if pad else np.zeros(4, int)
    x1, y1, x2, y2 = box
    return [int(max(x1 - grow[0], 0)), int(max(y1 - grow[1], 0)),
            int(min(x2 + grow[2], hw[1])), int(min(y2 + grow[3], hw[0]))]


def reference_params(cfg: ExemplarConfig, rng: np.random.Generator) -> dict:
    """Draw one reference's augmentation (JSON-able; 0 / [] / 1.0 where an augmentation is not applied)."""
    s, size = cfg.jitter_strength, cfg.reference_size
    jitter = rng.random() < cfg.colour_jitter
    factors = rng.uniform(1 - s, 1 + s, 3) if jitter else np.ones(3)
    return {
        "flip": bool(rng.random() < cfg.flip),
        "rotation": round(float(rng.uniform(-cfg.max_rotation, cfg.max_rotation)), 3),
        "blur": int(rng.choice([3, 5, 7])) if rng.random() < cfg.blur else 0,
        "elastic_seed": int(rng.integers(1, 2**31)) if rng.random() < cfg.elastic else 0,
        "perspective": ([round(float(v), 2) for v in rng.uniform(-0.1, 0.1, 8) * size]
                        if rng.random() < cfg.perspective else []),
        "brightness": round(float(factors[0]), 4), "contrast": round(float(factors[1]), 4),
        "saturation": round(float(factors[2]), 4),
    }


def _elastic(img: np.ndarray, seed: int) -> np.ndarray:
    """A smooth random displacement (alpha = 3% of the side, smoothed over 8% of it), reflected borders."""
    h, w = img.shape[:2]
    rng = np.random.default_rng(seed)
    sigma, alpha = 0.08 * w, 0.03 * w
    dx, dy = (cv2.GaussianBlur(rng.uniform(-1, 1, (h, w)).astype(np.float32), (0, 0), sigma) for _ in range(2))
    dx, dy = (d / max(float(np.abs(d).max()), 1e-6) * alpha for d in (dx, dy))
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(img, gx + dx, gy + dy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)


def _colour(img: np.ndarray, p: dict) -> np.ndarray:
    out = img.astype(np.float32) * p["brightness"]
    out = (out - out.mean()) * p["contrast"] + out.mean()
    grey = out.mean(axis=2, keepdims=True)
    out = grey + (out - grey) * p["saturation"]
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def augment_reference(crop: np.ndarray, p: dict, size: int) -> np.ndarray:
    """hxwx3 uint8 RGB crop and drawn parameters -> size x size x 3 uint8 RGB reference (PbE's order: squeeze,
    flip, rotate, blur, elastic; then perspective and colour jitter)."""
    img = cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)
    if p["flip"]:
        img = img[:, ::-1].copy()
    rot = cv2.getRotationMatrix2D((size / 2, size / 2), p["rotation"], 1.0)
    img = cv2.warpAffine(img, rot, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    if p["blur"]:
        img = cv2.blur(img, (p["blur"], p["blur"]))
    if p["elastic_seed"]:
        img = _elastic(img, p["elastic_seed"])
    if p["perspective"]:
        src = np.float32([[0, 0], [size, 0], [size, size], [0, size]])
        dst = src + np.float32(p["perspective"]).reshape(4, 2)
        warp = cv2.getPerspectiveTransform(src, dst)
        img = cv2.warpPerspective(img, warp, (size, size), borderMode=cv2.BORDER_REFLECT_101)
    return _colour(img, p)
