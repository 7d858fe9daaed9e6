"""Remove stage: dilate the object's mask and fill the dilated region.

``remove_opencv`` is the CPU default (OpenCV Telea / Navier-Stokes). Diffusion removers run through
RunInference and fill ``Candidate.source`` the same way; the blend stage applies to every remover.
"""
from __future__ import annotations

import cv2
import numpy as np

from configs.schema import RemovalConfig
from transforms.record import Candidate

STAGE = "remove"
_METHODS = {"telea": cv2.INPAINT_TELEA, "ns": cv2.INPAINT_NS}


def dilate(mask: np.ndarray, kernel: int) -> np.ndarray:
    """HxW bool mask grown by an elliptical kernel of ``kernel`` px (odd) -> HxW bool."""
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (kernel, kernel))
    return cv2.dilate(mask.view(np.uint8), k).astype(bool)


def remove_opencv(c: Candidate, cfg: RemovalConfig) -> Candidate:
    """Fill ``c.dilated`` from its surroundings; sets ``c.dilated`` and ``c.source`` (not yet blended)."""
    c.dilated = dilate(c.mask, cfg.dilate)
    c.source = cv2.inpaint(c.image, c.dilated.view(np.uint8), cfg.radius, _METHODS[cfg.method])
    c.meta["removal"] = {"kind": "opencv", "method": cfg.method, "radius": cfg.radius, "dilate": cfg.dilate}
    return c


REMOVERS = {"opencv": remove_opencv}
