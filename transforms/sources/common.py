"""What the URL-table, tar-shard, folder and Open Images sources share: finding their input files on any
Beam FileSystems path, building plan entries, and finishing a plan (limit, unique keys).

Plan entries are ``PlanEntry`` records (transforms/core/records.py). ``meta`` of captioned sources holds
the caption, and the objects its words name in the class vocabulary (transforms/sources/vocabulary.py).
"""
from __future__ import annotations

import os
import posixpath

from apache_beam.io.filesystems import FileSystems

from configs.schema import ConfigError, SourceConfig
from transforms.core.keys import dup_key, safe_key
from transforms.core.records import PlanEntry
from transforms.core.tarfiles import expand_specs
from transforms.sources.vocabulary import caption_objects

IMAGE_EXTS = ("jpg", "jpeg", "png", "webp", "bmp", "tif", "tiff", "gif")
GLOB = set("*?[")


def match_paths(pattern: str) -> list[str]:
    """Paths a FileSystems glob matches (``**`` crosses folders), sorted; [] when none."""
    try:
        found = FileSystems.match([pattern])[0].metadata_list
    except Exception:  # noqa: BLE001 - Beam raises when a pattern matches nothing on some filesystems
        return []
    return sorted(m.path for m in found)


def is_folder(path: str) -> bool:
    """True for an existing local folder, or any remote prefix (object stores have no folders to check)."""
    return os.path.isdir(path) if "://" not in path else True


def require_path(key: str, path: str, folder: bool = False) -> None:
    """Raise ConfigError naming ``key`` unless ``path`` is an existing file (or folder)."""
    what = "folder" if folder else "file"
    if not path:
        raise ConfigError(f"{key} is empty: give a {what} (e.g. --set {key}=path/to/{what})")
    if not (is_folder(path) if folder else "://" in path or os.path.isfile(path)):
        raise ConfigError(f"{key}: {what} not found: {path}")


def input_files(key: str, spec: str, exts: tuple[str, ...]) -> list[str]:
    """The files ``spec`` names: one file, a folder (its files with ``exts``, not recursive), a glob, or a
    brace range (``shards/{00000..00099}.tar``). Raises ConfigError naming ``key`` when nothing is found."""
    if not spec:
        raise ConfigError(f"{key} is empty: give a file, a folder or a pattern (e.g. --set {key}=data/*.parquet)")
    specs = expand_specs(spec)
    if len(specs) == 1 and not GLOB & set(spec) and ext_of(spec) not in exts:   # a folder (or prefix)
        found = [p for ext in exts for p in match_paths(FileSystems.join(spec.rstrip("/"), f"*.{ext}"))]
    else:
        found = [p for s in specs for p in (match_paths(s) if GLOB & set(s) else [s])]
        found = [p for p in found if FileSystems.exists(p)]
    if not found:
        raise ConfigError(f"{key}: no {'/'.join(exts)} file found at {spec}")
    return sorted(set(found))


def ext_of(path: str) -> str:
    return posixpath.splitext(path)[1].lower().lstrip(".")


def caption_entry(cfg: SourceConfig, key_parts: tuple, uri: str, source_id: str, caption: str,
                  meta: dict) -> PlanEntry:
    """A plan entry of a captioned image: objects from the caption's vocabulary classes (no masks)."""
    caption = " ".join(str(caption or "").split())
    return PlanEntry(safe_key(cfg.name, *key_parts), uri, source_id, caption_objects(caption, cfg),
                     {"dataset": cfg.name, "caption": caption, "licence": cfg.licence, "licence_url": "",
                      **{k: v for k, v in meta.items() if v not in (None, "")}})


def unique_keys(entries: list[PlanEntry]) -> list[PlanEntry]:
    """The first entry keeps a key; a later one gets ``-dup-N`` and a reject: 'duplicate_image_id' when
    its source id is the same, 'key_collision' when different ids map to one key (``a/b`` and ``a_b``)."""
    first: dict[str, str] = {}
    for entry in entries:
        key = entry.key
        if key in first:
            same = first[key] == entry.source_id
            entry.key = dup_key(key, first)
            entry.reject("duplicate_image_id" if same else "key_collision",
                         f"image id {entry.source_id!r}; {key} is image id {first[key]!r}")
        first[entry.key] = entry.source_id
    return entries


def finish(entries: list[PlanEntry], cfg: SourceConfig) -> list[PlanEntry]:
    """The first ``source.limit`` entries, with unique keys (a repeat keeps its place and gets a reject)."""
    if cfg.limit:
        entries = entries[: cfg.limit]
    return unique_keys(entries)
