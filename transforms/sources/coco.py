"""``coco`` and ``lvis``: an instances json (images, annotations, categories, licenses) and an images folder.

One plan entry per images[] row, sorted by image id; one object per annotation (polygons or RLE, decoded
by the annotations masker). LVIS rows name no file: the file name comes from ``coco_url``. Rows that cannot
name an image (no usable id, a file name leaving the images folder, a repeated id) keep their place with a
reject the load stage reports (stage 'read').

The json is read by msgspec against the few fields a plan uses, each annotation's segmentation kept as the
file's own JSON text (``msgspec.Raw``, decoded by the worker that masks it): planning a COCO-size file
then holds about the file's bytes, not millions of Python floats, and takes less time than ``json.load``.
A file that does not fit that shape (a row that is not an object, NaN, ids past 64 bits, not UTF-8) is
read again by Python's json, whose rows are checked one by one as before: same entries, at json's cost.
"""
from __future__ import annotations

import json
import os
from typing import Any

import msgspec

from configs.schema import ConfigError, SourceConfig
from transforms.core import fileio
from transforms.core.keys import safe_key
from transforms.core.records import PlanEntry
from transforms.sources.common import require_path, unique_keys


class _Annotation(msgspec.Struct):
    """The fields of an annotations[] row a plan uses; the segmentation as it came in the file."""
    id: Any = None
    image_id: Any = None
    category_id: Any = None
    segmentation: Any = None
    iscrowd: Any = 0


class _Instances(msgspec.Struct):
    """A COCO/LVIS instances file as planning reads it: the annotations typed, the small lists as Python."""
    images: list[Any]
    annotations: list[_Annotation]
    categories: list[Any]
    licenses: Any = None


class _RawAnnotation(_Annotation):
    segmentation: msgspec.Raw = msgspec.Raw(b"null")


class _RawInstances(_Instances):
    annotations: list[_RawAnnotation]


_FAST = msgspec.json.Decoder(_RawInstances)


_BLANKS = b" \t\r\n"


def _as_it_came(raw: msgspec.Raw):
    """An annotation's segmentation: its JSON text when that is a polygon list or an RLE object (a view of
    the file's bytes; blanks taken out where that keeps its value, so that a file written again with other
    spacing plans the same); decoded when it is short (null, [], {}, ...), so that what is falsy stays
    falsy for every reader of the plan."""
    if len(raw) <= 8 or memoryview(raw)[:1] not in (b"[", b"{"):
        return msgspec.json.decode(raw)
    text = bytes(raw)
    if not any(bytes([blank]) in text for blank in _BLANKS):
        return raw
    tight = text.translate(None, _BLANKS)
    if b'"' in text and msgspec.json.decode(tight) != msgspec.json.decode(text):   # a blank inside a string
        return raw
    return msgspec.Raw(tight)


def _load_coco_json(path: str) -> _Instances:
    data = fileio.read_bytes(path)
    try:
        fast = _FAST.decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return _load_checked(path, data)
    for ann in fast.annotations:
        ann.segmentation = _as_it_came(ann.segmentation)
    return fast


def _load_checked(path: str, data: bytes) -> _Instances:
    """Python's json, and each row checked: the errors a user sees for a file that is not COCO."""
    try:
        data = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise ConfigError(f"source.annotations: {path} is not a JSON file ({str(e)[:200]})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"source.annotations: {path} is not a COCO instances file (no top-level object)")
    missing = [k for k in ("images", "annotations", "categories") if not isinstance(data.get(k), list)]
    if missing:
        raise ConfigError(f"source.annotations: {path} lacks the COCO list(s) {', '.join(missing)}")
    annotations = [_Annotation(a.get("id"), a.get("image_id"), a.get("category_id"), a.get("segmentation"),
                               a.get("iscrowd", 0)) for a in data["annotations"] if isinstance(a, dict)]
    return _Instances(data["images"], annotations, data["categories"], data.get("licenses"))


def _id(value):
    """A usable id: an int or a non-empty string (an integral float, as some json writers emit, becomes an
    int); None for anything else (null, bools, lists, 1.5)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    ok = (isinstance(value, int) and not isinstance(value, bool)) or (isinstance(value, str) and value != "")
    return value if ok else None


def _text(value) -> str:
    return value if isinstance(value, str) else "" if value is None else str(value)


def _image_id_order(image_id):
    return (0, image_id, "") if isinstance(image_id, int) else (1, 0, str(image_id))


def _coco_tables(data: _Instances) -> tuple[dict, dict, dict]:
    """(category id -> name, licence id -> licence, image id -> its annotations); malformed rows left out."""
    categories = {_id(c.get("id")): _text(c.get("name")) for c in data.categories if isinstance(c, dict)}
    licence_list = data.licenses if isinstance(data.licenses, list) else []
    licences = {_id(lic.get("id")): lic for lic in licence_list if isinstance(lic, dict)}
    by_image: dict = {}
    for ann in data.annotations:
        image_id = _id(ann.image_id)
        if image_id is not None:
            by_image.setdefault(image_id, []).append(ann)
    categories.pop(None, None)
    licences.pop(None, None)
    return categories, licences, by_image


def _coco_objects(anns: list[_Annotation], categories: dict) -> list[dict]:
    objects = []
    for ann in sorted(anns, key=lambda a: str(a.id)):
        cat = _id(ann.category_id)
        objects.append({
            "ann_id": str(ann.id), "category_id": cat if isinstance(cat, int) else -1,
            "class_name": categories.get(cat, ""), "segmentation": ann.segmentation, "iscrowd": bool(ann.iscrowd),
        })
    return objects


def _file_problem(file_name) -> str:
    """Why ``file_name`` cannot name a file inside the images folder ('' when it can)."""
    if not isinstance(file_name, str) or not file_name.strip():
        return f"file name {file_name!r} names no file"
    parts = file_name.replace("\\", "/").split("/")
    if file_name.startswith(("/", "\\")) or os.path.isabs(file_name) or ".." in parts or "://" in file_name:
        return f"file name {file_name!r} points outside source.images"
    return ""


def _coco_entry(cfg: SourceConfig, im: dict, tables: tuple[dict, dict, dict]) -> PlanEntry:
    """One plan entry for an images[] row with a usable id; a file name that would leave the images folder
    (absolute, '..', a URL) is a reject, and the entry then names no file at all."""
    categories, licences, by_image = tables
    image_id = _id(im["id"])
    file_name = im.get("file_name") or os.path.basename(_text(im.get("coco_url")))
    lic = licences.get(_id(im.get("license")), {})
    meta = {
        "dataset": cfg.name, "file_name": _text(file_name),
        "licence": _text(lic.get("name", cfg.licence)), "licence_url": _text(lic.get("url", "")),
        "url": _text(im.get("coco_url") or im.get("flickr_url") or ""),
        "width": im.get("width"), "height": im.get("height"),
    }
    problem = _file_problem(file_name)
    uri = "" if problem else (os.path.join(cfg.images, file_name) if "://" not in cfg.images
                               else f"{cfg.images}/{file_name}")
    objects = _coco_objects(by_image.pop(image_id, []), categories)   # a repeated id's later rows get a reject
    entry = PlanEntry(safe_key(cfg.name, f"{image_id:012d}" if isinstance(image_id, int) else image_id),
                      uri, str(image_id), objects, meta)
    return entry.reject("bad_file_name", problem) if problem else entry


def _unusable_entry(cfg: SourceConfig, index: int, im) -> PlanEntry:
    """The plan entry of an images[] row without a usable id: keyed by its position, rejected."""
    got = f"id {im['id']!r}" if isinstance(im, dict) and "id" in im else "no id"
    entry = PlanEntry(safe_key(cfg.name, "images", index), "", "", [], {"dataset": cfg.name})
    return entry.reject("bad_image_id", f"images[{index}] has {got}" if isinstance(im, dict)
                        else f"images[{index}] is not an object")


def plan_coco(cfg: SourceConfig) -> list[PlanEntry]:
    """COCO or LVIS instances json -> plan entries, sorted by image id (LVIS: file name from coco_url)."""
    require_path("source.annotations", cfg.annotations)
    require_path("source.images", cfg.images, folder=True)
    data = _load_coco_json(cfg.annotations)
    tables = _coco_tables(data)
    rows = [(i, im, _id(im.get("id")) if isinstance(im, dict) else None) for i, im in enumerate(data.images)]
    del data   # each annotation is let go as its image's entry is made (``_coco_entry``)
    usable = sorted((r for r in rows if r[2] is not None), key=lambda r: _image_id_order(r[2]))
    rows = usable + [r for r in rows if r[2] is None]  # rows without a usable id last, in file order
    if cfg.limit:
        rows = rows[: cfg.limit]
    return unique_keys([_coco_entry(cfg, im, tables) if image_id is not None else _unusable_entry(cfg, i, im)
                        for i, im, image_id in rows])
