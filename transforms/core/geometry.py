"""Mask and frame geometry every stage shares: boxes, dilation, the 3x3 location grid, resize-and-crop.

Masks are HxW bool arrays; boxes are XYXY pixel boxes (x1, y1 inclusive; x2, y2 exclusive) or (rows,
cols) slices; images are HxWx3 uint8 RGB.
"""
from __future__ import annotations

import cv2
import numpy as np
from PIL import Image

# The grid vocabulary every output uses: metadata, the parquet sidecar, exports.
LOCATIONS = (
    ("top left", "top center", "top right"),
    ("middle left", "center", "middle right"),
    ("bottom left", "bottom center", "bottom right"),
)


def bbox_xyxy(mask: np.ndarray) -> list[int]:
    """Tight XYXY box (x1, y1 inclusive; x2, y2 exclusive) of an HxW bool mask."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    return [int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1]


def box_around(mask: np.ndarray, pad: int) -> tuple[slice, slice]:
    """Row and column slices of an HxW bool mask's box grown by ``pad`` px, clipped to the image."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    h, w = mask.shape
    return (slice(max(rows[0] - pad, 0), min(rows[-1] + 1 + pad, h)),
            slice(max(cols[0] - pad, 0), min(cols[-1] + 1 + pad, w)))


def dilate(mask: np.ndarray, kernel: int) -> np.ndarray:
    """HxW bool mask grown by an elliptical kernel of ``kernel`` px (odd) -> HxW bool."""
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (kernel, kernel))
    return cv2.dilate(mask.view(np.uint8), k).astype(bool)


def location(mask: np.ndarray) -> str:
    """The grid cell holding the centroid of an HxW bool mask."""
    ys, xs = np.nonzero(mask)
    h, w = mask.shape
    row = min(2, int(3 * ys.mean() / h))
    col = min(2, int(3 * xs.mean() / w))
    return LOCATIONS[row][col]


def resize_params(h: int, w: int, cfg) -> tuple[float, tuple[int, int], tuple[int, int]]:
    """(scale, resized (h, w), crop offset (y0, x0)) for the ``image`` section's resize policy; the crop
    size is (size, size)."""
    if cfg.resize == "none":
        return 1.0, (h, w), (0, 0)
    scale = cfg.size / min(h, w)
    rh, rw = max(cfg.size, round(h * scale)), max(cfg.size, round(w * scale))
    if cfg.resize == "short_side":
        return scale, (rh, rw), (0, 0)
    return scale, (rh, rw), ((rh - cfg.size) // 2, (rw - cfg.size) // 2)


def enlarge(image: np.ndarray, size_wh: tuple[int, int]) -> np.ndarray:
    """HxWx3 (or HxW) uint8 -> the same enlarged to ``size_wh`` (w, h) by bicubic interpolation, with the
    same bytes on every x86-64 CPU. Pillow's resampler is plain fixed-point C; OpenCV's INTER_CUBIC picks SIMD
    kernels by CPU (AVX-512, AVX2 and its unoptimised path each give other bits), which made the CPU
    default's pixels differ between machines."""
    return np.asarray(Image.fromarray(image).resize(size_wh, Image.Resampling.BICUBIC))


def apply_resize(a: np.ndarray, resized_hw: tuple[int, int], offset: tuple[int, int], out_hw: tuple[int, int],
                 nearest: bool = False) -> np.ndarray:
    """Resize ``a`` (image or uint8 mask) to ``resized_hw`` then crop ``out_hw`` at ``offset``."""
    h, w = a.shape[:2]
    if (h, w) != resized_hw:
        size = (resized_hw[1], resized_hw[0])
        if nearest or resized_hw[0] < h:   # INTER_AREA and INTER_NEAREST give the same bits on every CPU
            a = cv2.resize(a, size, interpolation=cv2.INTER_NEAREST if nearest else cv2.INTER_AREA)
        else:
            a = enlarge(a, size)
    y0, x0 = offset
    return a[y0: y0 + out_hw[0], x0: x0 + out_hw[1]]


def out_size(orig_hw: tuple[int, int], cfg) -> tuple[int, int]:
    """The output frame (h, w) of an image decoded at ``orig_hw`` under the ``image`` section's policy."""
    _, resized, _ = resize_params(*orig_hw, cfg)
    return (cfg.size, cfg.size) if cfg.resize == "short_side_crop" else resized
