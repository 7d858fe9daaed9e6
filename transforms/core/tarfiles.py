"""WebDataset's tar conventions without importing webdataset (whose package imports torch: 1.75 s and
~880 MB per process). A build that runs no model writes and plans tars through this module only.

Same bytes as ``webdataset.TarWriter(f, user="", group="", mode=0o644, encoder=False, mtime=0)``: a streamed
tar (Python's default format), one member ``<key>.<name>`` per member name in sorted order, mtime 0.
"""
from __future__ import annotations

import io
import os
import re
import tarfile
from typing import BinaryIO, Iterable, Mapping

import braceexpand

_BASE_EXT = re.compile(r"^((?:.*/|)[^.]+)[.]([^/]*)$")


def base_plus_ext(path: str) -> tuple[str | None, str | None]:
    """``a/b.seg.png`` -> (``a/b``, ``seg.png``): the sample key and the member name, split at the first dot
    of the last path part (WebDataset's rule); (None, None) for a name without one."""
    m = _BASE_EXT.match(path)
    return (m.group(1), m.group(2)) if m else (None, None)


def expand_specs(spec: str) -> list[str]:
    """WebDataset's shard spec: ``::``-separated parts, ``${VAR}`` read from the environment as ``WDS_VAR``,
    then brace ranges expanded (``shards/{00000..00002}.tar`` -> three paths)."""
    out: list[str] = []
    for part in spec.split("::"):
        for _ in range(10):
            last, part = part, re.sub(r"\$\{(\w+)\}", lambda m: os.environ.get("WDS_" + m.group(1), ""), part)
            if part == last:
                break
        out.extend(braceexpand.braceexpand(part))
    return out


def member_blocks(key: str, members: Mapping[str, bytes]) -> bytes:
    """The exact tar blocks (header, data, NUL padding to 512) of one sample's members ``<key>.<name>`` in
    sorted name order, as they appear in a shard's tar; a tar is these blocks concatenated + ``tar_end``."""
    buf = io.BytesIO()
    for name in sorted(members):
        data = members[name]
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise ValueError(f"{key}.{name}: a tar member must be bytes, not {type(data).__name__}")
        data = bytes(data)
        info = tarfile.TarInfo(f"{key}.{name}")
        info.size, info.mtime, info.mode, info.uname, info.gname = len(data), 0, 0o644, "", ""
        buf.write(info.tobuf(tarfile.DEFAULT_FORMAT, tarfile.ENCODING, "surrogateescape"))
        buf.write(data + tarfile.NUL * (-len(data) % tarfile.BLOCKSIZE))
    return buf.getvalue()


def tar_end(offset: int) -> bytes:
    """What closes a streamed tar whose members took ``offset`` bytes: two zero blocks, then zeros up to a
    whole record (20 blocks), as ``tarfile`` writes them."""
    offset += 2 * tarfile.BLOCKSIZE
    return tarfile.NUL * (2 * tarfile.BLOCKSIZE + (-offset % tarfile.RECORDSIZE))


def write_blocks(f: BinaryIO, blocks: Iterable[bytes]) -> None:
    """Write a tar to ``f`` from samples' ``member_blocks``, in the order given."""
    offset = 0
    for b in blocks:
        f.write(b)
        offset += len(b)
    f.write(tar_end(offset))


def write_samples(f: BinaryIO, samples: Iterable[tuple[str, Mapping[str, bytes]]]) -> None:
    """Write (key, {member name: bytes}) samples, in the order given, as a tar stream to ``f``."""
    write_blocks(f, (member_blocks(key, members) for key, members in samples))
