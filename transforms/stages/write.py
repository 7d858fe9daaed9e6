"""Write stage: one output shard = tar + parquet sidecar + rejects parquet + stats json (written last).

Everything a shard holds is sorted by key and written with fixed tar metadata, so the same inputs give
the same bytes. The stats json is the commit marker: a shard with one is finished and never rewritten. It
records the size and sha256 of each file it commits (``files``), hashed as the bytes are written, so damage
after the fact (a truncated tar, a flipped byte) is found by pipelines/verify.py, and the output format
version (``format_version``): a reader refuses, and a resuming build rebuilds, a shard of another version.
"""
from __future__ import annotations

import collections
import hashlib

import pyarrow as pa
import pyarrow.parquet as pq

from transforms.core import fileio
from transforms.core.keys import shard_name
from transforms.core.records import PartRef, Reject, Sample
from transforms.core.tarfiles import member_blocks, write_blocks

STAGE = "write"
# The layout of what a shard holds (tar members, sidecar and rejects columns, stats keys). Raise it when a
# change means a reader of this version cannot read the older files; pipelines/verify.py holds the one check.
FORMAT_VERSION = 1
REJECT_SCHEMA = pa.schema([
    ("key", pa.string()), ("image_key", pa.string()), ("shard", pa.int64()), ("level", pa.string()),
    ("stage", pa.string()), ("reason", pa.string()), ("detail", pa.string()),
    ("scores", pa.string()),   # a dropped candidate's scores (JSON): report histograms and ``retune`` read them
])


def paths(out: str, shard: int) -> dict[str, str]:
    name = shard_name(shard)
    return {
        "tar": fileio.join(out, "shards", f"{name}.tar"),
        "parquet": fileio.join(out, "shards", f"{name}.parquet"),
        "stats": fileio.join(out, "shards", f"{name}.stats.json"),
        "rejects": fileio.join(out, "rejects", f"{name}.parquet"),
    }


PART_EXT = ".part"


def part_path(out: str, shard: int, key: str) -> str:
    """Where a sample's tar blocks wait for its shard writer: a temporary name of ours (fileio.tmp_target
    gives ``NNNNNN.part``), fixed by the key so a retried bundle overwrites its own part."""
    tag = hashlib.sha1(key.encode()).hexdigest()[:12]
    return fileio.join(out, "shards", f"{fileio.TMP_PREFIX}{tag}-{shard_name(shard)}{PART_EXT}")


def kept_download_path(out: str, shard: int, key: str) -> str:
    """Where a first pass keeps the bytes it downloaded for image ``key`` (BrushData-v2's donor pass), so the
    second reads them instead of downloading again: a part file of the shard, so the shard's commit (and a
    rerun, after a kill) deletes it with the others."""
    return part_path(out, shard, f"downloaded {key}")


def write_part(out: str, sample: Sample) -> PartRef:
    """Write ``sample``'s tar member blocks to its part file; return the small record that stands for it."""
    blocks = member_blocks(sample.key, sample.members)
    path = part_path(out, sample.shard, sample.key)
    fileio.write_plain(path, blocks)
    return PartRef(sample.key, sample.shard, sample.image_key, sample.row, sample.masks, path, len(blocks))


def _blocks(pair: Sample | PartRef) -> bytes:
    if isinstance(pair, Sample):
        return member_blocks(pair.key, pair.members)
    data = fileio.read_bytes(pair.part)
    if len(data) != pair.size:
        raise RuntimeError(f"part file {pair.part} of sample {pair.key} holds {len(data)} bytes, not the "
                           f"{pair.size} written: it was changed after it was written. Shard {pair.shard} "
                           f"is not committed; rerun the build to rebuild it.")
    return data


def _write_tar(pairs: list[Sample | PartRef]):
    return lambda f: write_blocks(f, (_blocks(p) for p in pairs))


class _Counted:
    """A file being written, seen through: the bytes that pass are counted and hashed."""

    def __init__(self, f):
        self.f, self.size, self.sha = f, 0, hashlib.sha256()

    def write(self, data) -> int:
        self.size += len(data)
        self.sha.update(data)
        return self.f.write(data)


def _write_counted(path: str, write) -> dict:
    """``fileio.write_atomic(path, write)``; returns {'bytes', 'sha256'} of what was written."""
    seen: list[_Counted] = []

    def counted(f):   # fileio fsyncs the real file after this returns
        seen.append(_Counted(f))
        write(seen[-1])
    fileio.write_atomic(path, counted)
    return {"bytes": seen[-1].size, "sha256": seen[-1].sha.hexdigest()}


def clear_parts(out: str, shard: int) -> None:
    """Delete every part file of ``shard`` (those of this run and any a retried bundle left)."""
    folder = fileio.join(out, "shards")
    names = fileio.list_names(folder, f"{fileio.TMP_PREFIX}*-{shard_name(shard)}{PART_EXT}")
    fileio.delete([fileio.join(folder, n) for n in names if fileio.tmp_target(n)])


def _write_parquet(rows: list[dict], schema: pa.Schema):
    """A writer of the parquet file of ``rows``: built in memory (sidecars are small), written in one go."""
    sink = pa.BufferOutputStream()
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), sink, compression="zstd")
    data = sink.getvalue().to_pybytes()
    return lambda f: f.write(data)


def shard_stats(shard: int, image_keys: list[str], pairs: list[Sample | PartRef], rejects: list[Reject]) -> dict:
    """Counts per stage and reason, and the accounting: every planned image is seen exactly somewhere."""
    dropped: dict = {"image": collections.Counter(), "candidate": collections.Counter()}
    for r in rejects:
        dropped[r.level][f"{r.stage}/{r.reason}"] += 1
    image_rejected = {r.image_key for r in rejects if r.level == "image"}
    expanded = {p.image_key for p in pairs} | {r.image_key for r in rejects if r.level == "candidate"}
    seen = image_rejected | expanded
    return {
        "shard": shard,
        "images_in": len(image_keys),
        "images_rejected": len(image_rejected),
        "images_with_candidates": len(expanded - image_rejected),
        # a BrushData sample holds all of its image's kept masks; a pair holds one
        "candidates": sum(p.masks for p in pairs) + sum(dropped["candidate"].values()),
        "pairs": len(pairs),
        "dropped": {level: dict(sorted(c.items())) for level, c in dropped.items()},
        "lost_images": sorted(set(image_keys) - seen),
        "unplanned_images": sorted(seen - set(image_keys)),
    }


def source_stats(image_sources: dict[str, str], pairs: list[Sample | PartRef], rejects: list[Reject]) -> dict:
    """A mix's counts per source (source.name): images by the source whose key they carry, candidates and
    pairs by the source of their object; each row of the shard counted under exactly one source."""
    rows: dict = {}

    def row(name: str) -> dict:
        return rows.setdefault(name, {"images_in": 0, "images_rejected": 0, "candidates": 0, "pairs": 0,
                                      "dropped": collections.Counter()})
    for name in image_sources.values():
        row(name)["images_in"] += 1
    for r in rejects:
        name = r.dataset or image_sources.get(r.image_key, "")
        row(name)["dropped"][f"{r.stage}/{r.reason}"] += 1
        if r.level == "candidate":
            row(name)["candidates"] += 1
    for key in {r.image_key for r in rejects if r.level == "image"}:
        row(image_sources.get(key, ""))["images_rejected"] += 1
    for p in pairs:
        name = str(p.row.get("dataset") or image_sources.get(p.image_key, ""))
        row(name)["pairs"] += 1
        row(name)["candidates"] += p.masks
    return {name: {**r, "dropped": dict(sorted(r["dropped"].items()))} for name, r in sorted(rows.items())}


def write_shard(out: str, shard: int, image_keys: list[str], pairs: list[Sample | PartRef],
                rejects: list[Reject], schema: pa.Schema, stages: list[str] | None = None,
                image_sources: dict[str, str] | None = None) -> dict:
    """Write every file of one shard (temporary name, then rename); the stats json goes last. ``pairs`` are
    Samples (bytes in memory) or PartRefs (bytes in part files: the tar is their parts concatenated in key
    order, and the shard's parts are deleted once the stats json commits it). ``schema`` is the sidecar's,
    the output format's (transforms/formats/); ``stages`` names the stages the run has, so the funnel lists
    those and no others; ``image_sources`` (image key -> source name) is a mix's: the stats then count per
    source too (``sources``)."""
    p = paths(out, shard)
    pairs = sorted(pairs, key=lambda e: e.key)
    rejects = sorted(set(rejects), key=lambda r: (r.key, r.stage, r.reason))
    files = {"tar": _write_counted(p["tar"], _write_tar(pairs)),
             "parquet": _write_counted(p["parquet"], _write_parquet([e.row for e in pairs], schema))}
    reject_rows = [{"key": r.key, "image_key": r.image_key, "shard": r.shard, "level": r.level,
                    "stage": r.stage, "reason": r.reason, "detail": r.detail, "scores": r.scores} for r in rejects]
    files["rejects"] = _write_counted(p["rejects"], _write_parquet(reject_rows, REJECT_SCHEMA))
    stats = shard_stats(shard, image_keys, pairs, rejects)
    if stages is not None:
        stats["stages"] = list(stages)
    if image_sources is not None:
        stats["sources"] = source_stats(image_sources, pairs, rejects)
    stats["files"] = files
    stats["format_version"] = FORMAT_VERSION
    fileio.write_json(p["stats"], stats)
    if any(isinstance(e, PartRef) for e in pairs):
        clear_parts(out, shard)
    return stats
