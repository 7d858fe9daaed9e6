"""The typed records that flow between stages (the ground floor: imports nothing of the project).

Shapes: images are HxWx3 uint8 RGB arrays; masks are HxW bool arrays; boxes are XYXY pixel boxes in the
output frame. One element is one image (``ImageRecord``) until the filter stage, then one object
candidate (``Candidate``). A stage returns records or ``Reject``s; nothing is dropped without a Reject.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


def safe_key(*parts: object) -> str:
    """Join parts into a sample key with no dots or separators (webdataset splits at the first dot)."""
    key = "-".join(_UNSAFE.sub("_", str(p)) for p in parts)
    if not key or key.strip("-_") == "":
        raise ValueError(f"cannot build a key from {parts!r}")
    return key


@dataclass(slots=True)
class ObjectRef:
    """One object as the source describes it (annotation masks) before decoding."""
    ann_id: str
    category_id: int
    class_name: str
    segmentation: Any = None        # COCO polygon list, RLE dict, or None (masker proposes it)
    iscrowd: bool = False
    scores: dict[str, float] = field(default_factory=dict)


@dataclass(slots=True)
class ImageRecord:
    """One input image. ``image`` is filled by the load stage, ``candidates`` by the propose stage."""
    key: str                        # e.g. coco-000000397133
    shard: int
    uri: str                        # local path or any Beam FileSystems path
    source_id: str                  # the source's own image id
    objects: list[ObjectRef] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)   # dataset, file_name, licence, url, caption
    image: np.ndarray | None = None  # HxWx3 uint8 RGB, after resize
    orig_hw: tuple[int, int] = (0, 0)  # decoded size before resize, after EXIF rotation
    scale: float = 1.0              # resize factor applied to the decoded image
    offset: tuple[int, int] = (0, 0)  # (y0, x0) of the centre crop in the resized frame
    candidates: list[Candidate] = field(default_factory=list)


@dataclass(slots=True)
class Candidate:
    """One object of one image on its way to becoming a pair."""
    key: str                        # image key + '-' + object id
    shard: int
    image_key: str
    class_name: str
    category_id: int
    image: np.ndarray               # target: HxWx3 uint8 RGB (shared with the image record, not copied)
    mask: np.ndarray                # HxW bool, the object
    dilated: np.ndarray | None = None   # HxW bool, the region the remover may change
    source: np.ndarray | None = None    # HxWx3 uint8 RGB, object removed
    candidates: list[np.ndarray] = field(default_factory=list)  # HxWx3 uint8 RGB removal results (diffusion's
    # N seeds, flagged ones left out) until the quality checks choose the source; emptied after them
    scores: dict[str, float] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    instructions: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True, frozen=True)
class Reject:
    """Why an image or a candidate stopped. ``level`` is 'image' or 'candidate'."""
    key: str
    shard: int
    image_key: str
    level: str
    stage: str
    reason: str
    detail: str = ""


def reject_image(rec: ImageRecord, stage: str, reason: str, detail: str = "") -> Reject:
    return Reject(rec.key, rec.shard, rec.key, "image", stage, reason, detail)


def reject_candidate(c: Candidate, stage: str, reason: str, detail: str = "") -> Reject:
    return Reject(c.key, c.shard, c.image_key, "candidate", stage, reason, detail)


@dataclass(slots=True)
class EncodedPair:
    """A finished pair as bytes, ready for its shard: tar members and one parquet row."""
    key: str
    shard: int
    image_key: str
    members: dict[str, bytes]       # "source.jpg", "target.jpg", "mask.png", "txt", "json"
    row: dict[str, Any]


# The funnel's stages, in pipeline order. Stages added by later recipes register here.
# PIPE's quality filters (transforms/clip_filters.py) sit around remove, in PIPE's order.
STAGES = ["read", "load", "propose", "filter", "clip_prefilter", "remove", "consensus", "removal_score", "importance",
          "importance_dino", "blend", "describe", "instruct", "encode", "write"]
