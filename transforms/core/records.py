"""The typed records that flow between stages (the ground floor: imports nothing of the project but keys).

Shapes: images are HxWx3 uint8 RGB arrays; masks are HxW bool arrays; boxes are XYXY pixel boxes in the
output frame. A plan file holds ``PlanEntry``s; one element is one image (``ImageRecord``) until the filter
stage, then one object candidate (``Candidate``); the format's encoder turns it into a ``Sample`` (the
bytes of its tar members and its sidecar row). A first pass that only looks (BrushData-v2's donors) leaves
a small ``Shapes`` per image. A stage returns records or ``Reject``s; nothing is dropped
without a Reject, and ``reject`` is the one way to build one.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import msgspec
import numpy as np

from transforms.core.keys import safe_key

IMAGE, CANDIDATE = "image", "candidate"


class StageError(Exception):
    """A per-element failure with its reject ``reason`` (and a ``detail``): a bad file, a bad mask, a failed
    download. Stages raise it where the reason is known; the stage turns it into a ``Reject``."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail = reason, detail


@dataclass(slots=True)
class ObjectRef:
    """One object as the source describes it (annotation masks) before decoding."""
    ann_id: str
    category_id: int
    class_name: str
    segmentation: Any = None        # COCO polygon list, RLE dict, or None (masker proposes it)
    iscrowd: bool = False
    scores: dict[str, float] = field(default_factory=dict)
    dataset: str = ""               # a mix: the source whose annotation it is ('' = the image's own source)


@dataclass(slots=True, frozen=True)
class PlannedReject:
    """What a source already knows, while planning, to be wrong with an image (a duplicate id, ...)."""
    reason: str
    detail: str = ""


@dataclass(slots=True)
class PlanEntry:
    """One image of a plan file (OUT/plan/NNNNNN.json); ``rejected`` keeps an unusable image in the plan (and
    its key) so the load stage reports it as a reject of stage 'read' without reading anything."""
    key: str
    uri: str
    source_id: str
    objects: list[dict] = field(default_factory=list)   # ObjectRef fields, JSON-able
    meta: dict[str, Any] = field(default_factory=dict)  # dataset, file_name, licence, url, caption, ...
    rejected: PlannedReject | None = None

    def reject(self, reason: str, detail: str = "") -> PlanEntry:
        """Mark the entry unusable; it keeps its place and key in the plan, and no objects."""
        self.rejected, self.objects = PlannedReject(reason, detail[:300]), []
        return self

    def to_json(self) -> dict:
        """The plan file's dict; a planned reject is stored as ``meta['reject']`` (the plan files' layout). An
        object's segmentation may be the input's own JSON text, as it came (``msgspec.Raw``: a COCO-size
        plan holds its polygons as the file's bytes, not as millions of Python floats); the plan file
        writes it unchanged, and ``to_record`` decodes it."""
        meta = dict(self.meta)
        if self.rejected is not None:
            meta["reject"] = {"reason": self.rejected.reason, "detail": self.rejected.detail}
        return {"key": self.key, "uri": self.uri, "source_id": self.source_id, "objects": self.objects,
                "meta": meta}

    @classmethod
    def from_json(cls, d: dict) -> PlanEntry:
        meta = dict(d.get("meta", {}))
        planned = meta.pop("reject", None)
        rejected = PlannedReject(planned["reason"], planned.get("detail", "")) if planned else None
        return cls(d["key"], d["uri"], d["source_id"], list(d.get("objects", [])), meta, rejected)

    def to_record(self, shard: int) -> ImageRecord:
        return ImageRecord(key=self.key, shard=shard, uri=self.uri, source_id=self.source_id,
                           objects=[ObjectRef(**plain(obj)) for obj in self.objects], meta=plain(self.meta),
                           planned_reject=self.rejected)


def plain(value):
    """``value`` with any JSON text a plan kept as it came (``msgspec.Raw``) decoded to Python values."""
    if isinstance(value, msgspec.Raw):
        return msgspec.json.decode(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


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
    planned_reject: PlannedReject | None = None   # set by the source while planning: nothing is read


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
    scores: str = ""                # a candidate's scores so far as sorted JSON ({} -> ""); images have none
    # the source (source.name) of the image or object: the funnel's rows per source; not part of what the
    # reject is (equality, the rejects table)
    dataset: str = field(default="", compare=False)


def reject(rec: ImageRecord | Candidate, stage: str, reason: str, detail: str = "") -> Reject:
    """The reject row of an image (level 'image') or a candidate (level 'candidate')."""
    if isinstance(rec, Candidate):
        scores = json.dumps(rec.scores, sort_keys=True) if rec.scores else ""
        return Reject(rec.key, rec.shard, rec.image_key, CANDIDATE, stage, reason, detail, scores,
                      rec.meta.get("source", {}).get("dataset", ""))
    if isinstance(rec, ImageRecord):
        return Reject(rec.key, rec.shard, rec.key, IMAGE, stage, reason, detail, "", rec.meta.get("dataset", ""))
    raise TypeError(f"not a record: {type(rec).__name__}")


def reject_object(rec: ImageRecord, object_key: str, stage: str, reason: str, detail: str = "",
                  dataset: str = "") -> Reject:
    """The candidate-level reject of an object of ``rec`` that never became a Candidate (key ``object_key``;
    ``dataset``: the object's source when not the image's)."""
    return Reject(object_key, rec.shard, rec.key, CANDIDATE, stage, reason, detail, "",
                  dataset or rec.meta.get("dataset", ""))


def object_key(rec: ImageRecord, obj: ObjectRef) -> str:
    """image key + object id; an object another source of a mix gave the image also names that source."""
    if obj.dataset and obj.dataset != rec.meta.get("dataset"):
        return safe_key(rec.key, obj.dataset, obj.ann_id)
    return safe_key(rec.key, obj.ann_id)


def dataset_of_object(rec: ImageRecord, obj: ObjectRef) -> str:
    """The source (its ``source.name``) whose annotation ``obj`` is."""
    return obj.dataset or rec.meta.get("dataset", "")


@dataclass(slots=True)
class Shapes:
    """What a first pass over an image found (BrushData-v2 with model donors, transforms/maskers/donors.py):
    the ``objects`` a masker found and the ``share`` of the frame they cover (the clean-background test), the
    shapes it may lend (``donors``: dicts with ann_id, class_name, segmentation as COCO RLE, height, width,
    masker, models), or ``failed``: why the pass dropped the image (its Reject). No image bytes."""
    key: str
    shard: int
    objects: int = 0
    share: float = 0.0
    donors: list[dict] = field(default_factory=list)
    failed: Reject | None = None


@dataclass(slots=True)
class Unit:
    """The element every stage works on: a fixed group of one shard's records, in plan order. A unit starts
    as ``source.unit_images`` consecutive plan entries (the last of a shard may hold fewer) and holds what
    each stage kept of them (images, then candidates, then samples). Its composition is a function of the
    plan alone, so a model stage's calls, the unit's requests in chunks of ``batch_size``, are too: the
    bytes do not depend on the runner, its workers, threads or bundles."""
    shard: int
    index: int                      # its place among the shard's units
    items: list


def units(shard: int, records: list, size: int) -> list[Unit]:
    """``records`` (one shard's, in plan order) as consecutive units of ``size``."""
    return [Unit(shard, i, records[j: j + size]) for i, j in enumerate(range(0, len(records), size))]


@dataclass(slots=True)
class Sample:
    """A finished sample of any output format as bytes, ready for its shard: tar members and a sidecar row."""
    key: str
    shard: int
    image_key: str
    members: dict[str, bytes]       # member name (after KEY.) -> bytes, e.g. "source.jpg", "image", "json"
    row: dict[str, Any]             # the sidecar row (the format's schema)
    masks: int = 1                  # object masks the sample holds (the funnel counts candidates by them)


@dataclass(slots=True)
class PartRef:
    """A Sample whose tar member bytes are already in storage: ``part`` is the path of a file holding exactly
    its ``tarfiles.member_blocks``, ``size`` bytes long. The small record the shard writer groups by shard
    (no image bytes go through the shuffle)."""
    key: str
    shard: int
    image_key: str
    row: dict[str, Any]
    masks: int
    part: str
    size: int
