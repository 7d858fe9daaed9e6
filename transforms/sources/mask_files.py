"""Masks a source names by file (Open Images' per-mask PNGs), read by the load stage once the image is.

A plan entry cannot hold pixels, so such an object's segmentation is ``{"mask_png": uri}``. After the image
is decoded, each file is read, thresholded and brought to the decoded frame (nearest neighbour when its
size differs), so the propose stage receives an HxW bool array it decodes like any annotation. A mask that
cannot be read becomes a candidate reject of the load stage; the image goes on with its other objects.
"""
from __future__ import annotations

import cv2
import numpy as np

from configs.schema import FetchConfig
from transforms.core.fetch import FetchError, read_uri
from transforms.core.records import ImageRecord, Reject, object_key, reject_object

STAGE = "load"
MASK_FILE = "mask_png"


def decode_mask_png(data: bytes, hw: tuple[int, int]) -> np.ndarray:
    """PNG bytes (any bit depth, non-zero = object) -> HxW bool in an ``hw`` frame; raises ValueError."""
    m = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE)
    if m is None:
        raise ValueError(f"{len(data)} bytes that do not decode as an image")
    if m.shape != tuple(hw):
        m = cv2.resize(m, (hw[1], hw[0]), interpolation=cv2.INTER_NEAREST)
    return m > 0


def read_mask_files(rec: ImageRecord, cfg: FetchConfig) -> ImageRecord | list:
    """Replace every ``{"mask_png": uri}`` segmentation of ``rec`` by an HxW bool array (decoded frame)."""
    if not any(isinstance(o.segmentation, dict) and MASK_FILE in o.segmentation for o in rec.objects):
        return rec
    rejects: list[Reject] = []
    kept = []
    for obj in rec.objects:
        uri = obj.segmentation.get(MASK_FILE) if isinstance(obj.segmentation, dict) else None
        if uri is None:
            kept.append(obj)
            continue
        try:
            obj.segmentation = decode_mask_png(read_uri(uri, cfg), rec.orig_hw)
            kept.append(obj)
        except (FetchError, ValueError) as e:
            reason = f"mask_{e.reason}" if isinstance(e, FetchError) else "mask_unreadable"
            rejects.append(reject_object(rec, object_key(rec, obj), STAGE, reason, str(e)[:300]))
    rec.objects = kept
    return [rec, *rejects]
