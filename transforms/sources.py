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


def _is_id(value) -> bool:
    """A usable id: an int (not a bool) or a non-empty string. Anything else (null, lists, floats) is not."""
    return (isinstance(value, int) and not isinstance(value, bool)) or (isinstance(value, str) and value != "")


def _text(value) -> str:
    return value if isinstance(value, str) else "" if value is None else str(value)


def _image_id_order(image_id):
    return (0, image_id, "") if isinstance(image_id, int) else (1, 0, str(image_id))


def _coco_tables(data: dict) -> tuple[dict, dict, dict]:
    """(category id -> name, licence id -> licence, image id -> its annotations); malformed rows left out."""
    categories = {c["id"]: _text(c.get("name")) for c in data["categories"]
                  if isinstance(c, dict) and _is_id(c.get("id"))}
    licence_list = data.get("licenses") if isinstance(data.get("licenses"), list) else []
    licences = {lic["id"]: lic for lic in licence_list if isinstance(lic, dict) and _is_id(lic.get("id"))}
    by_image: dict = {}
    for ann in data["annotations"]:
        if isinstance(ann, dict) and _is_id(ann.get("image_id")):
            by_image.setdefault(ann["image_id"], []).append(ann)
    return categories, licences, by_image


def _coco_objects(anns: list[dict], categories: dict) -> list[dict]:
    objects = []
    for ann in sorted(anns, key=lambda a: str(a.get("id"))):
        cat = ann.get("category_id")
        objects.append({
            "ann_id": str(ann.get("id")), "category_id": cat if _is_id(cat) and isinstance(cat, int) else -1,
            "class_name": categories.get(cat, "") if _is_id(cat) else "",
            "segmentation": ann.get("segmentation"), "iscrowd": bool(ann.get("iscrowd", 0)),
        })
    return objects


def _coco_entry(cfg: SourceConfig, im: dict, tables: tuple[dict, dict, dict]) -> dict:
    """One plan entry for an images[] row with a usable id."""
    categories, licences, by_image = tables
    image_id = im["id"]
    file_name = im.get("file_name") or os.path.basename(_text(im.get("coco_url")))
    lic = licences.get(im.get("license"), {}) if _is_id(im.get("license")) else {}
    meta = {
        "dataset": cfg.name, "file_name": _text(file_name),
        "licence": _text(lic.get("name", cfg.licence)), "licence_url": _text(lic.get("url", "")),
        "url": _text(im.get("coco_url") or im.get("flickr_url") or ""),
        "width": im.get("width"), "height": im.get("height"),
    }
    uri = os.path.join(cfg.images, file_name) if "://" not in cfg.images else f"{cfg.images}/{file_name}"
    objects = _coco_objects(by_image.get(image_id, []), categories)
    return {"key": safe_key(cfg.name, f"{image_id:012d}" if isinstance(image_id, int) else image_id),
            "uri": uri, "source_id": str(image_id), "objects": objects, "meta": meta}


def plan_coco(cfg: SourceConfig) -> list[dict]:
    """COCO or LVIS instances json -> plan entries, sorted by image id (LVIS: file name from coco_url)."""
    _require_file("source.annotations", cfg.annotations)
    _require_dir("source.images", cfg.images)
    data = _load_coco_json(cfg.annotations)
    tables = _coco_tables(data)
    images = [im for im in data["images"] if isinstance(im, dict) and "id" in im]
    images.sort(key=lambda im: _image_id_order(im["id"]))
    if cfg.limit:
        images = images[: cfg.limit]
    return unique_keys([_coco_entry(cfg, im, tables) for im in images])


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
