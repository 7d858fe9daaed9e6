"""Sources: turn an input collection into a deterministic plan of numbered shards of image entries.

A plan entry is a JSON-able dict (key, uri, source_id, objects, meta); ``to_record`` makes it an
``ImageRecord``. Add a source by writing ``plan_<kind>(cfg) -> list[dict]`` and registering it in SOURCES.
An entry the source already knows to be unusable (a duplicate id, ...) stays in the plan with
``meta['reject']``; the load stage turns it into a reject of stage 'read' without reading anything.
"""
from __future__ import annotations

import json
import os
from typing import Callable

from configs.schema import ConfigError, SourceConfig
from transforms.record import ImageRecord, ObjectRef, Reject, reject_image, safe_key
from transforms.source_folder import plan_folder
from transforms.source_laion import plan_laion_parquet
from transforms.source_openimages import plan_openimages
from transforms.source_webdataset import plan_webdataset

STAGE = "read"


def _require_file(key: str, path: str) -> None:
    if not path:
        raise ConfigError(f"{key} is empty: give a path (e.g. --set {key}=path/to/file)")
    if "://" not in path and not os.path.isfile(path):
        raise ConfigError(f"{key}: file not found: {path}")


def _require_dir(key: str, path: str) -> None:
    if not path:
        raise ConfigError(f"{key} is empty: give a folder (e.g. --set {key}=path/to/images)")
    if "://" not in path and not os.path.isdir(path):
        raise ConfigError(f"{key}: folder not found: {path}")


def _load_coco_json(path: str) -> dict:
    from transforms.fileio import read_bytes
    try:
        data = json.loads(read_bytes(path))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise ConfigError(f"source.annotations: {path} is not a JSON file ({str(e)[:200]})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"source.annotations: {path} is not a COCO instances file (no top-level object)")
    missing = [k for k in ("images", "annotations", "categories") if not isinstance(data.get(k), list)]
    if missing:
        raise ConfigError(f"source.annotations: {path} lacks the COCO list(s) {', '.join(missing)}")
    return data


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


def _coco_tables(data: dict) -> tuple[dict, dict, dict]:
    """(category id -> name, licence id -> licence, image id -> its annotations); malformed rows left out."""
    categories = {_id(c.get("id")): _text(c.get("name")) for c in data["categories"] if isinstance(c, dict)}
    licence_list = data.get("licenses") if isinstance(data.get("licenses"), list) else []
    licences = {_id(lic.get("id")): lic for lic in licence_list if isinstance(lic, dict)}
    by_image: dict = {}
    for ann in data["annotations"]:
        if isinstance(ann, dict) and _id(ann.get("image_id")) is not None:
            by_image.setdefault(_id(ann["image_id"]), []).append(ann)
    categories.pop(None, None)
    licences.pop(None, None)
    return categories, licences, by_image


def _coco_objects(anns: list[dict], categories: dict) -> list[dict]:
    objects = []
    for ann in sorted(anns, key=lambda a: str(a.get("id"))):
        cat = _id(ann.get("category_id"))
        objects.append({
            "ann_id": str(ann.get("id")), "category_id": cat if isinstance(cat, int) else -1,
            "class_name": categories.get(cat, ""),
            "segmentation": ann.get("segmentation"), "iscrowd": bool(ann.get("iscrowd", 0)),
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


def _coco_entry(cfg: SourceConfig, im: dict, tables: tuple[dict, dict, dict]) -> dict:
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
    objects = _coco_objects(by_image.get(image_id, []), categories)
    entry = {"key": safe_key(cfg.name, f"{image_id:012d}" if isinstance(image_id, int) else image_id),
             "uri": uri, "source_id": str(image_id), "objects": objects, "meta": meta}
    return set_reject(entry, "bad_file_name", problem) if problem else entry


def _unusable_entry(cfg: SourceConfig, index: int, im) -> dict:
    """The plan entry of an images[] row without a usable id: keyed by its position, rejected."""
    got = f"id {im['id']!r}" if isinstance(im, dict) and "id" in im else "no id"
    entry = {"key": safe_key(cfg.name, "images", index), "uri": "", "source_id": "", "objects": [],
             "meta": {"dataset": cfg.name}}
    return set_reject(entry, "bad_image_id", f"images[{index}] has {got}" if isinstance(im, dict)
                      else f"images[{index}] is not an object")


def plan_coco(cfg: SourceConfig) -> list[dict]:
    """COCO or LVIS instances json -> plan entries, sorted by image id (LVIS: file name from coco_url)."""
    _require_file("source.annotations", cfg.annotations)
    _require_dir("source.images", cfg.images)
    data = _load_coco_json(cfg.annotations)
    tables = _coco_tables(data)
    rows = [(i, im, _id(im.get("id")) if isinstance(im, dict) else None) for i, im in enumerate(data["images"])]
    usable = sorted((r for r in rows if r[2] is not None), key=lambda r: _image_id_order(r[2]))
    rows = usable + [r for r in rows if r[2] is None]  # rows without a usable id last, in file order
    if cfg.limit:
        rows = rows[: cfg.limit]
    return unique_keys([_coco_entry(cfg, im, tables) if image_id is not None else _unusable_entry(cfg, i, im)
                        for i, im, image_id in rows])


def dup_key(key: str, taken) -> str:
    """The first ``key-dup-N`` not in ``taken``."""
    n = 1
    while safe_key(key, "dup", n) in taken:
        n += 1
    return safe_key(key, "dup", n)


def set_reject(entry: dict, reason: str, detail: str = "") -> dict:
    """Mark a plan entry as rejected while planning; it keeps its place (and its key) in the plan."""
    entry["meta"]["reject"] = {"reason": reason, "detail": detail[:300]}
    entry["objects"] = []
    return entry


def unique_keys(entries: list[dict]) -> list[dict]:
    """The first entry keeps a key; a later one gets ``-dup-N`` and a reject: 'duplicate_image_id' when
    its source id is the same, 'key_collision' when different ids map to one key (``a/b`` and ``a_b``)."""
    first: dict[str, str] = {}
    for entry in entries:
        key = entry["key"]
        if key in first:
            same = first[key] == entry["source_id"]
            entry["key"] = dup_key(key, first)
            set_reject(entry, "duplicate_image_id" if same else "key_collision",
                       f"image id {entry['source_id']!r}; {key} is image id {first[key]!r}")
        first[entry["key"]] = entry["source_id"]
    return entries


def planned_reject(rec: ImageRecord) -> Reject | None:
    """The reject the source decided for ``rec`` while planning, if any."""
    planned = rec.meta.get("reject")
    return reject_image(rec, STAGE, planned["reason"], planned.get("detail", "")) if planned else None


SOURCES: dict[str, Callable[[SourceConfig], list[dict]]] = {
    "coco": plan_coco,
    "lvis": plan_coco,
    "laion_parquet": plan_laion_parquet,
    "webdataset": plan_webdataset,
    "folder": plan_folder,
    "openimages": plan_openimages,
}


def plan_source(cfg: SourceConfig) -> list[list[dict]]:
    """The whole input as shards of ``cfg.shard_size`` entries; raises ConfigError for a bad source."""
    if cfg.kind not in SOURCES:
        raise ConfigError(f"source.kind: {cfg.kind!r} is not allowed; choose one of {', '.join(SOURCES)}")
    entries = SOURCES[cfg.kind](cfg)
    if not entries:
        raise ConfigError(f"source: no images found in {cfg.annotations or cfg.images}")
    size = cfg.shard_size
    return [entries[i: i + size] for i in range(0, len(entries), size)]


def to_record(entry: dict, shard: int) -> ImageRecord:
    objects = [ObjectRef(**obj) for obj in entry.get("objects", [])]
    return ImageRecord(key=entry["key"], shard=shard, uri=entry["uri"], source_id=entry["source_id"],
                       objects=objects, meta=dict(entry.get("meta", {})))
