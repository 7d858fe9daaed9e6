"""Finished shards checked against what their commit marker (the stats json) recorded: each file's size
(cheap: one listing per folder; resume, ``report`` and ``export`` do it) and, for ``inpaint-pairs verify``,
its sha256 (reads every byte). A damaged shard is named with what is wrong; ``--repair`` (and a resuming
build) removes its marker and files, so the next build rebuilds exactly those shards. A shard written in
another output format version (transforms/stages/write.py ``FORMAT_VERSION``) is treated the same way: readers
refuse it with one message, a resuming build rebuilds it in this version.
"""
from __future__ import annotations

import hashlib
import json
import posixpath
from typing import Callable

from apache_beam.io.filesystems import FileSystems

from configs.schema import ConfigError
from pipelines import outputs
from transforms.core import fileio
from transforms.stages.write import FORMAT_VERSION, paths, shard_name

CHUNK = 1 << 20


def _sizes(out: str) -> dict[str, int]:
    """'shards/NAME' and 'rejects/NAME' -> size in bytes, from one listing of each folder."""
    found = {}
    for sub in ("shards", "rejects"):
        pattern = fileio.join(fileio.glob_escape(out), sub, "[0-9]*")
        for m in FileSystems.match([pattern])[0].metadata_list:
            found[f"{sub}/{posixpath.basename(m.path.replace(chr(92), '/'))}"] = m.size_in_bytes
    return found


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with fileio.open_read(path) as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def _read_stats(out: str, shard: int, sizes: dict[str, int]) -> tuple[dict | None, str | None]:
    """(shard's stats json, None), or (None, what is wrong with it)."""
    try:
        stats = json.loads(fileio.read_bytes(paths(out, shard)["stats"]))
    except (ValueError, UnicodeDecodeError):
        size = sizes.get(f"shards/{shard_name(shard)}.stats.json", "?")
        return None, f"its stats json is unreadable ({size} bytes)"
    if not isinstance(stats, dict):
        return None, "its stats json is not an object"
    version = stats.get("format_version")
    if version != FORMAT_VERSION:
        written = "written before output format versions" if version is None else f"output format version {version}"
        return None, f"{written}; this inpaint-pairs reads version {FORMAT_VERSION}"
    return stats, None


def files_problem(out: str, shard: int, stats: dict, sizes: dict[str, int], deep: bool = False) -> str | None:
    """What is wrong with the files of finished shard ``shard`` against its ``stats`` ('tar is 512 bytes,
    its stats say 20480'), or None."""
    p = paths(out, shard)
    for kind, want in sorted(stats["files"].items()):
        rel = posixpath.join(*p[kind].replace("\\", "/").rsplit("/", 2)[-2:])
        have = sizes.get(rel)
        if have is None:
            return f"its {kind} file is missing ({rel})"
        if have != want["bytes"]:
            return f"its {kind} file is {have} bytes, its stats say {want['bytes']} ({rel})"
        if deep and _sha256(p[kind]) != want["sha256"]:
            return f"its {kind} file's sha256 differs from the one its stats recorded ({rel})"
    return None


def check(out: str, shards: list[int] | None = None, deep: bool = False,
          progress: Callable[[int], None] | None = None) -> tuple[dict[int, dict], dict[int, str]]:
    """({shard: its stats} of the intact, {shard: what is wrong} of the damaged) finished shards among
    ``shards`` (default: all finished); each stats json is read once."""
    finished = set(outputs.finished_shards(out))
    todo = sorted(finished if shards is None else finished & set(shards))
    sizes = _sizes(out)
    intact, found = {}, {}
    for k in todo:
        stats, problem = _read_stats(out, k, sizes)
        problem = problem or files_problem(out, k, stats, sizes, deep)
        if problem:
            found[k] = problem
        else:
            intact[k] = stats
        if progress:
            progress(1)
    return intact, found


def damaged(out: str, shards: list[int] | None = None, deep: bool = False,
            progress: Callable[[int], None] | None = None) -> dict[int, str]:
    """{shard: what is wrong} for the finished shards among ``shards`` (default: all finished)."""
    return check(out, shards, deep, progress)[1]


def unfinish(out: str, shards: list[int]) -> None:
    """Remove the commit marker (first) and the files of ``shards`` that exist: the next build rebuilds them."""
    for k in shards:
        p = paths(out, k)
        fileio.delete([p[n] for n in ("stats", "tar", "parquet", "rejects") if fileio.exists(p[n])])


def rebuild_damaged(out: str, shards: list[int], log: Callable) -> None:
    """A resuming build: a damaged finished shard of its own is unfinished (and so rebuilt), with a note."""
    for k, problem in damaged(out, shards).items():
        log(f"shard {shard_name(k)} cannot be kept ({problem}): rebuilding it")
        unfinish(out, [k])


def require_intact(out: str, shards: list[int] | None = None) -> dict[int, dict]:
    """{shard: its stats} of the finished shards (among ``shards``); stops (ConfigError, exit 2) naming the
    damaged ones, with the way to repair them."""
    intact, found = check(out, shards)
    if found:
        lines = "\n".join(f"  shard {shard_name(k)}: {why}" for k, why in sorted(found.items())[:20])
        more = f"\n  ... and {len(found) - 20} more" if len(found) > 20 else ""
        raise ConfigError(f"{out}: {len(found)} finished shard(s) are damaged or in another output format:\n{lines}"
                          f"{more}\nRerun the build command with --output {out}: it rebuilds exactly those (or run "
                          f"inpaint-pairs verify {out} --repair first to remove them)")
    return intact
