"""Masks a source names by file (Open Images' per-mask PNGs) or by a box in shares of the frame (Open Images'
box CSV: ``{"box_norm": [xmin, ymin, xmax, ymax]}``), made into arrays by the load stage once the image is.

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
BOX_NORM = "box_norm"


def box_mask(box: list, hw: tuple[int, int]) -> np.ndarray:
    """[xmin, ymin, xmax, ymax] in shares of the frame (0-1) -> HxW bool, the box filled; raises ValueError."""
    if (not isinstance(box, (list, tuple)) or len(box) != 4
            or not all(isinstance(v, (int, float)) and 0 <= v <= 1 for v in box)
            or box[0] >= box[2] or box[1] >= box[3]):
        raise ValueError(f"box {box!r} is not [xmin, ymin, xmax, ymax] in 0-1 with min < max")
    h, w = hw
    out = np.zeros(hw, bool)
    out[int(round(box[1] * h)):int(round(box[3] * h)), int(round(box[0] * w)):int(round(box[2] * w))] = True
    return out


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
    if not any(isinstance(o.segmentation, dict) and {MASK_FILE, BOX_NORM} & set(o.segmentation)
               for o in rec.objects):
        return rec
    rejects: list[Reject] = []
    kept = []
    for obj in rec.objects:
        seg = obj.segmentation if isinstance(obj.segmentation, dict) else {}
        if MASK_FILE not in seg and BOX_NORM not in seg:
            kept.append(obj)
            continue
        try:
            obj.segmentation = (box_mask(seg[BOX_NORM], rec.orig_hw) if BOX_NORM in seg
                                else decode_mask_png(read_uri(seg[MASK_FILE], cfg), rec.orig_hw))
            kept.append(obj)
        except (FetchError, ValueError) as e:
            reason = (f"mask_{e.reason}" if isinstance(e, FetchError)
                      else "bad_box" if BOX_NORM in seg else "mask_unreadable")
            rejects.append(reject_object(rec, object_key(rec, obj), STAGE, reason, str(e)[:300]))
    rec.objects = kept
    return [rec, *rejects]
