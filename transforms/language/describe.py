"""Describe stage: a VLM's short description of the object, seen on PIPE's object-only view.

The view is the object's box (grown by ``describe.vlm.margin``) with everything but the object painted
white, so the description is of the object alone. The description feeds the LLM instruction stage.
"""
from __future__ import annotations

from operator import attrgetter

import numpy as np

from configs.schema import DescribeConfig
from model_wrappers.locate import record_models
from model_wrappers.types import DescribeRequest
from transforms.core.records import Candidate
from transforms.core.stage import ModelStep
from transforms.core.text import class_words, one_line

STAGE = "describe"


def object_view(image: np.ndarray, mask: np.ndarray, margin: float) -> np.ndarray:
    """HxWx3 uint8 RGB + HxW bool -> hxwx3 uint8 RGB crop around the object, white outside the mask."""
    ys, xs = np.nonzero(mask)
    if not len(ys):
        raise ValueError("empty mask")
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    dy, dx = int(round((y1 - y0) * margin)), int(round((x1 - x0) * margin))
    y0, y1 = max(0, y0 - dy), min(mask.shape[0], y1 + dy)
    x0, x1 = max(0, x0 - dx), min(mask.shape[1], x1 + dx)
    view = np.full((y1 - y0, x1 - x0, 3), 255, np.uint8)
    keep = mask[y0:y1, x0:x1]
    view[keep] = image[y0:y1, x0:x1][keep]
    return view


def describe_request(c: Candidate, cfg: DescribeConfig) -> tuple[Candidate, DescribeRequest]:
    v = cfg.vlm
    return c, DescribeRequest(image=object_view(c.image, c.mask, v.margin),
                              prompt=v.prompt.format(**class_words(c.class_name)), prefix=v.caption_prefix)


def store_description(c: Candidate, text: str, cfg: DescribeConfig) -> Candidate:
    """The cleaned description into ``meta['description']`` (empty when the model said nothing usable)."""
    c.meta["description"] = one_line(text)
    c.meta["describe"] = {"kind": "vlm", "model": cfg.vlm.model, "prompt": cfg.vlm.prompt.format(**class_words(c.class_name)),
                          "raw": str(text)[:300]}
    record_models(c.meta, "describe", cfg.vlm.model)
    return c


VLM = ModelStep(describe_request, store_description, "vlm", attrgetter("vlm"))
