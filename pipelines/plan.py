"""The plan files, OUT/plan/NNNNNN.json or .parquet: the sole owner of their names, layout and reading.

A plan file holds one shard's ``PlanEntry``s ({"shard": k, "images": [entry, ...]}, one line of JSON,
``plan_text``), or for a row source (a URL table: transforms/sources ``Rows``) the shard's rows as parquet,
carrying the source config its entries are made with; ``read_entries`` gives entries either way.
OUT/plan/inputs.json ties the plan to what it was made from: the size and modification time of each file
the source keys name (annotation files, tables, class lists: Beam's FileSystems metadata, so object stores
too), a digest of each shard's entries and its image count. A rerun whose inputs all have
the recorded sizes and times keeps the stored plan without reading them (``stored_sizes``); otherwise it
plans again and compares (``compare``): a plan that changed is never built half old, half new
(pipelines/run.py decides what to do). OUT/plan/summary.json holds what the plan left out as a whole
(``source.where`` and the rows it left out) and, for a mix, the images two sources name; written only then,
so other outputs do not have one. Every slice writes
every missing plan file (same bytes whoever writes it), so the report can tell which shards of the whole
plan are missing; a slice only builds shards k with k % n == i.
"""
from __future__ import annotations

import hashlib
import json
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

import msgspec
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from configs.schema import SourceConfig, source_items, source_paths
from transforms.core import fileio
from transforms.core.keys import shard_ids
from transforms.core.records import PlanEntry
from transforms.sources import images_in, row_entries
from transforms.stages.write import paths, shard_name

FOLDER = "plan"
SUMMARY = "summary.json"
INPUTS = "inputs.json"


ENTRIES, ROWS = ".json", ".parquet"   # a shard's plan: its entries, or a row source's rows


def plan_path(out: str, shard: int, ext: str = ENTRIES) -> str:
    return fileio.join(out, FOLDER, f"{shard_name(shard)}{ext}")


def _ext(plan: list[PlanEntry] | pa.Table) -> str:
    return ROWS if isinstance(plan, pa.Table) else ENTRIES


def planned_shards(out: str) -> list[int]:
    """Ids of the shards the plan holds, ascending."""
    folder = fileio.join(out, FOLDER)
    names = fileio.list_names(folder, f"[0-9]*{ENTRIES}") + fileio.list_names(folder, f"[0-9]*{ROWS}")
    return sorted(set(shard_ids(names)))


def _stored_rows(out: str, shard: int) -> pa.Table | None:
    """A row source's stored shard, None when the shard's plan is entries (JSON)."""
    rows = plan_path(out, shard, ROWS)
    return pq.read_table(pa.BufferReader(fileio.read_bytes(rows))) if fileio.exists(rows) else None


def read_entries(out: str, shard: int) -> list[PlanEntry]:
    rows = _stored_rows(out, shard)
    if rows is not None:
        return row_entries(rows)
    return [PlanEntry.from_json(e) for e in fileio.read_json(plan_path(out, shard))["images"]]


def shard_size(out: str, shard: int) -> int:
    """The number of images of one stored plan file."""
    rows = _stored_rows(out, shard)
    return images_in(rows) if rows is not None else len(fileio.read_json(plan_path(out, shard))["images"])


_ENCODER = msgspec.json.Encoder(order="sorted")


def plan_text(shard: int, entries: list[PlanEntry] | pa.Table) -> bytes:
    """A plan file's bytes: its entries as compact JSON with sorted keys, on one line, segmentations the
    source kept as they came written as they came (msgspec; a plan is serialised once, and its digest is
    of these very bytes). Text msgspec cannot write as UTF-8 (a lone surrogate Python's json read from an
    escape) is written as Python's json writes it, escaped. A row source's rows: parquet."""
    if isinstance(entries, pa.Table):
        sink = pa.BufferOutputStream()
        pq.write_table(entries, sink)
        return sink.getvalue().to_pybytes()
    plan = {"shard": shard, "images": [e.to_json() for e in entries]}
    try:
        return _ENCODER.encode(plan)
    except UnicodeEncodeError:
        return json.dumps(plan, sort_keys=True, separators=(",", ":"),
                          default=lambda raw: msgspec.json.decode(raw)).encode()


def unfinished(out: str, shards: list[int]) -> list[int]:
    """The shards of ``shards`` without a stats json."""
    return [k for k in shards if not fileio.exists(paths(out, k)["stats"])]


def write_plan(out: str, shards: list[list[PlanEntry]]) -> None:
    """Write the missing plan files."""
    for k, entries in enumerate(shards):
        path = plan_path(out, k, _ext(entries))
        if not fileio.exists(path):
            fileio.write_atomic(path, plan_text(k, entries))


def write_summary(out: str, summary: dict) -> None:
    """OUT/plan/summary.json when ``source.where`` left rows out of the plan, or for a mix (the images two
    sources name: ``images_in_several``); same bytes whoever writes it."""
    path = fileio.join(out, FOLDER, SUMMARY)
    if (summary.get("where") or "images_in_several" in summary) and not fileio.exists(path):
        fileio.write_json(path, summary)


def read_summary(out: str) -> dict:
    """{'where': expression, 'where_left_out': rows} of a plan made with ``source.where``, else {}."""
    path = fileio.join(out, FOLDER, SUMMARY)
    return fileio.read_json(path) if fileio.exists(path) else {}


def shard_digest(shard: int, entries: list[PlanEntry]) -> str:
    """The digest of one shard's plan file content (``plan_text``: what its entries are)."""
    return hashlib.sha256(plan_text(shard, entries)).hexdigest()[:20]


def input_fingerprint(cfg: SourceConfig) -> dict[str, dict]:
    """'source.key' -> {'path', 'files', 'bytes', 'modified'} for each source key naming files (a file or a
    glob; a folder's listing is part of the plan itself, so folders are left to the shard digests)."""
    found = {}
    for key, path in source_paths(cfg):
        pattern = bool(set("*?[{") & set(path))
        try:
            if not pattern and not (os.path.isfile(path) if "://" not in path else FileSystems.exists(path)):
                continue   # a folder: its listing is part of the plan itself, compared through the shard digests
            files = [m for m in FileSystems.match([path])[0].metadata_list if pattern or m.path == path]
        except Exception:  # noqa: BLE001 - no match, or a scheme FileSystems does not list (http://): the
            continue       # shard digests still tie the plan to what was read
        found[key] = {"path": path, "files": len(files), "bytes": sum(m.size_in_bytes for m in files),
                      "modified": max((round(m.last_updated_in_seconds or 0, 3) for m in files), default=0)}
    return found


def read_inputs(out: str) -> dict | None:
    path = fileio.join(out, FOLDER, INPUTS)
    return fileio.read_json(path) if fileio.exists(path) else None


WRITERS = 8   # plan files written at once: each waits on its fsync (local) or its upload (object stores)


def write_new_plan(out: str, shards: list[list[PlanEntry] | pa.Table]) -> list[str]:
    """Write the plan files of an output that has none; their digests (each shard serialised once). Files
    are written by WRITERS threads, each file whole and under its own name: the same bytes in any order."""
    def write(k: int) -> str:
        text = plan_text(k, shards[k])
        fileio.write_atomic(plan_path(out, k, _ext(shards[k])), text)
        return hashlib.sha256(text).hexdigest()[:20]
    with ThreadPoolExecutor(WRITERS) as pool:
        return list(pool.map(write, range(len(shards))))


def write_inputs(out: str, fingerprint: dict[str, dict], digests: list[str], sizes: list[int]) -> None:
    """OUT/plan/inputs.json: ``input_fingerprint`` of the source, the digest of each shard's plan
    (``shard_digest``) and its number of images (``images``: what a rerun needs when the stored plan stands,
    ``stored_sizes``)."""
    fileio.write_json(fileio.join(out, FOLDER, INPUTS), {"inputs": fingerprint, "shards": digests, "images": sizes})


def stored_sizes(out: str, cfg: SourceConfig, lists: Callable[[SourceConfig], tuple[str, ...]]) -> list[int] | None:
    """The image count of each stored plan shard when that plan stands for the one the inputs would give, so
    a rerun need not plan again: every input file has the size and time inputs.json recorded, every folder
    a source lists while planning (``lists(item)``: its keys, e.g. a folder source's images) is a file or glob
    the fingerprint covers, and every plan file is there. None when the inputs must be planned (a config
    that differs is refused later, as on any rerun)."""
    recorded = read_inputs(out)
    if not recorded:
        return None
    now = input_fingerprint(cfg)
    listed = [f"{prefix}.{key}" for prefix, item in source_items(cfg) for key in lists(item)]
    if now != recorded["inputs"] or any(key not in now for key in listed):
        return None
    if planned_shards(out) != list(range(len(recorded["shards"]))):
        return None
    # an output planned before inputs.json had the counts: its plan files give them (their digests were of
    # another serialisation, so comparing a plan made now with them would call every shard changed)
    return recorded.get("images") or [shard_size(out, k) for k in range(len(recorded["shards"]))]


def compare(out: str, cfg: SourceConfig, shards: list[list[PlanEntry]]) -> dict:
    """What changed between the stored plan and ``shards``: {'changed': shard ids whose entries differ
    (new and removed shards included), 'inputs': lines naming each input file that changed, 'planned',
    'stored': shard counts, 'fingerprint': the inputs now, 'recorded': inputs.json's content or None (an
    output made before it: the digests are read from the plan files), 'digests': the new plan's}."""
    recorded = read_inputs(out)
    old = recorded["shards"] if recorded is not None else [shard_digest(k, read_entries(out, k))
                                                           for k in planned_shards(out)]
    new = [shard_digest(k, e) for k, e in enumerate(shards)]
    changed = [k for k in range(max(len(old), len(new)))
               if k >= len(old) or k >= len(new) or old[k] != new[k]]
    before, now = (recorded or {}).get("inputs", {}), input_fingerprint(cfg)
    lines = []
    for key in sorted(set(before) | set(now)):
        a, b = before.get(key), now.get(key)
        if a != b:
            lines.append(f"{key} {(b or a)['path']}: " + (
                "new" if a is None else "gone" if b is None else
                f"{a['files']} -> {b['files']} file(s), {a['bytes']} -> {b['bytes']} bytes, modified "
                f"{a['modified']:.0f} -> {b['modified']:.0f}"))
    return {"changed": changed, "inputs": lines, "planned": len(new), "stored": len(old), "fingerprint": now,
            "recorded": recorded, "digests": new}


def replace_plan(out: str, shards: list[list[PlanEntry] | pa.Table], which: list[int]) -> None:
    """Rewrite the plan files of shards ``which`` from ``shards``; delete those past the new plan's end (and
    a shard's file of the other layout)."""
    for k in which:
        keep = plan_path(out, k, _ext(shards[k])) if k < len(shards) else None
        if keep:
            fileio.write_atomic(keep, plan_text(k, shards[k]))
        stale = [p for p in (plan_path(out, k, ENTRIES), plan_path(out, k, ROWS)) if p != keep and fileio.exists(p)]
        if stale:
            fileio.delete(stale)
