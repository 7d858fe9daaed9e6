"""Blend stage: the source equals the target outside the dilated mask, exactly.

Inside the dilated mask the removed result is blended in with a blurred edge (the blur never reaches
outside the dilated mask, and the object itself is always fully replaced).
"""
from __future__ import annotations

import cv2
import numpy as np

from configs.schema import RemovalConfig
from transforms.record import Candidate

STAGE = "blend"


def blend_alpha(mask: np.ndarray, dilated: np.ndarray, feather: int) -> np.ndarray:
    """HxW float32 weight of the removed result: 1 on the object, 0 outside ``dilated``, soft between."""
    alpha = cv2.GaussianBlur(dilated.astype(np.float32), (feather, feather), 0)
    alpha[mask] = 1.0
    alpha[~dilated] = 0.0
    return alpha


def blend(c: Candidate, cfg: RemovalConfig) -> Candidate:
    """``c.source`` := removed result inside ``c.dilated`` with a feathered edge, ``c.image`` elsewhere."""
    alpha = blend_alpha(c.mask, c.dilated, cfg.feather)[:, :, None]
    mixed = alpha * c.source.astype(np.float32) + (1.0 - alpha) * c.image.astype(np.float32)
    out = c.image.copy()
    out[c.dilated] = np.clip(mixed[c.dilated] + 0.5, 0, 255).astype(np.uint8)
    c.source = out
    c.meta["blend"] = {"feather": cfg.feather}
    return c
