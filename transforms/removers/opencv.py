"""The ``opencv`` remover (the CPU default): dilate the object's mask and fill the dilated region.

``remove_opencv`` is the CPU default (OpenCV Telea / Navier-Stokes). It works on the dilated mask's
box only, at most ``removal.work_side`` px on its long side: OpenCV's fill is smooth, so a large object
filled at reduced size and scaled back looks the same and costs a fraction (Telea's cost grows with
the masked area times radius squared). Diffusion removers fill ``Candidate.source`` the same way; the
blend stage then restores every pixel outside the dilated mask, whichever remover ran.
"""
from __future__ import annotations

import cv2
import numpy as np

from configs.schema import RemovalConfig
from transforms.core.geometry import box_around, dilate, enlarge
from transforms.core.records import Candidate

STAGE = "remove"
_METHODS = {"telea": cv2.INPAINT_TELEA, "ns": cv2.INPAINT_NS}


def inpaint_region(image: np.ndarray, region: np.ndarray, cfg: RemovalConfig) -> np.ndarray:
    """HxWx3 uint8 with ``region`` (HxW bool) filled by OpenCV, at most ``cfg.work_side`` px across."""
    ys, xs = box_around(region, 2 * cfg.radius + 2)
    crop, hole = image[ys, xs], region[ys, xs].view(np.uint8)
    h, w = hole.shape
    scale = min(1.0, cfg.work_side / max(h, w)) if cfg.work_side else 1.0
    if scale < 1.0:
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        small_hole = cv2.dilate(cv2.resize(hole, size, interpolation=cv2.INTER_NEAREST), np.ones((3, 3), np.uint8))
        small = cv2.inpaint(cv2.resize(crop, size, interpolation=cv2.INTER_AREA), small_hole,
                            max(1, round(cfg.radius * scale)), _METHODS[cfg.method])
        filled = enlarge(small, (w, h))
    else:
        filled = cv2.inpaint(crop, hole, cfg.radius, _METHODS[cfg.method])
    out = image.copy()
    out[ys, xs] = filled
    return out


def remove_opencv(c: Candidate, cfg: RemovalConfig) -> Candidate:
    """Fill ``c.dilated`` from its surroundings; sets ``c.dilated`` and ``c.source`` (not yet blended)."""
    c.dilated = dilate(c.mask, cfg.dilate)
    c.source = inpaint_region(c.image, c.dilated, cfg)
    c.meta["removal"] = {"kind": "opencv", "method": cfg.method, "radius": cfg.radius, "dilate": cfg.dilate,
                         "work_side": cfg.work_side}
    return c

