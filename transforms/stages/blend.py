"""Blend stage: the source equals the target outside the dilated mask, exactly.

Inside the dilated mask the removed result is blended in with a blurred edge (the blur never reaches
outside the dilated mask, and the object itself is always fully replaced). Work happens on the dilated
mask's box (padded by the blur size, so the result equals a whole-image blend).
"""
from __future__ import annotations

import cv2
import numpy as np

from configs.schema import RemovalConfig
from transforms.core.records import Candidate
from transforms.core.geometry import box_around

STAGE = "blend"


def blend_alpha(mask: np.ndarray, dilated: np.ndarray, feather: int) -> np.ndarray:
    """HxW float32 weight of the removed result: 1 on the object, 0 outside ``dilated``, soft between."""
    alpha = cv2.GaussianBlur(dilated.astype(np.float32), (feather, feather), 0)
    alpha[mask] = 1.0
    alpha[~dilated] = 0.0
    return alpha


def blend(c: Candidate, cfg: RemovalConfig) -> Candidate:
    """``c.source`` := removed result inside ``c.dilated`` with a feathered edge, ``c.image`` elsewhere."""
    ys, xs = box_around(c.dilated, cfg.feather)
    dilated = c.dilated[ys, xs]
    alpha = blend_alpha(c.mask[ys, xs], dilated, cfg.feather)[:, :, None]
    removed, original = c.source[ys, xs].astype(np.float32), c.image[ys, xs].astype(np.float32)
    mixed = alpha * removed + (1.0 - alpha) * original
    out = c.image.copy()
    region = out[ys, xs]
    region[dilated] = np.clip(mixed[dilated] + 0.5, 0, 255).astype(np.uint8)
    c.source = out
    c.meta["blend"] = {"feather": cfg.feather}
    return c
