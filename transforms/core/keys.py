"""Sample keys and the seeds derived from them, and shard names: the same on every machine, worker and
Python process.

Keys contain no dots or separators (webdataset splits a member name at the first dot).
"""
from __future__ import annotations

import hashlib
import re

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


def safe_key(*parts: object) -> str:
    """Join parts into a sample key with no dots or separators (webdataset splits at the first dot)."""
    key = "-".join(_UNSAFE.sub("_", str(p)) for p in parts)
    if not key or key.strip("-_") == "":
        raise ValueError(f"cannot build a key from {parts!r}")
    return key


def dup_key(key: str, taken) -> str:
    """The first ``key-dup-N`` not in ``taken``."""
    n = 1
    while safe_key(key, "dup", n) in taken:
        n += 1
    return safe_key(key, "dup", n)


def key_seed(key: str, seed: int = 0) -> int:
    """A 63-bit seed from a sample key: the same on every machine and Python process."""
    return int.from_bytes(hashlib.sha256(f"{seed}:{key}".encode()).digest()[:8], "little") >> 1


def derive_seeds(key: str, n: int, base: int = 0) -> tuple[int, ...]:
    """``n`` seeds in [0, 2**31) from the sample key: stable across runs, machines and Python versions."""
    return tuple(int.from_bytes(hashlib.sha256(f"{base}:{key}:{i}".encode()).digest()[:4], "big") >> 1
                 for i in range(n))


def shard_name(shard: int) -> str:
    """A shard's file stem: its number, at least 6 digits (000042; 1234567 past 999999)."""
    return f"{shard:06d}"


def shard_id(name: str) -> int | None:
    """The shard number of a file name made with ``shard_name`` ('001234.stats.json' -> 1234, also past six
    digits: '1000000.tar' -> 1000000); None for a name that is not a shard's."""
    stem = name.split(".", 1)[0]
    return int(stem) if stem.isdigit() and stem.isascii() else None


def shard_ids(names) -> list[int]:
    """The shard numbers of ``names`` (others left out), ascending and numeric (not by name: 1000000 follows
    999999)."""
    return sorted({k for k in map(shard_id, names) if k is not None})
