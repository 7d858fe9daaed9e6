"""Sample keys and the seeds derived from them: the same on every machine, worker and Python process.

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
