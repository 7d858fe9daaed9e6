"""Every way a command stops ends as one message and an exit code, never a traceback.

  130  Ctrl-C            "stopped; rerun the same command to resume"
  143  SIGTERM           the same (a scheduler's preemption, ``kill``)
    1  disk full         the path being written, the free space left, and what to free
    2  read-only output  or no permission: the path, and to choose a writable output

Finished shards are committed atomically (fileio.write_atomic), so a stop at any moment leaves only whole
shards and temporary files that the next run of the same command clears. The errors are found anywhere in
an exception's chain, or in its text when a runner re-raised them as a string (Beam wraps worker errors).
"""
from __future__ import annotations

import errno
import os
import re
import shutil
import signal
import threading

RESUME = "rerun the same command to resume"
_ERRNO_TEXT = {errno.ENOSPC: "No space left on device", errno.EROFS: "Read-only file system",
               errno.EACCES: "Permission denied", errno.EDQUOT: "Disk quota exceeded"}


class Terminated(BaseException):
    """SIGTERM, raised in the main thread so the command unwinds like Ctrl-C."""


def raise_on_sigterm() -> None:
    """Turn SIGTERM into ``Terminated`` (main thread only; elsewhere Python cannot install handlers)."""
    if threading.current_thread() is threading.main_thread():
        def handler(signum, frame):
            raise Terminated()
        signal.signal(signal.SIGTERM, handler)


def _chain(exc: BaseException):
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def os_error(exc: BaseException) -> tuple[int, str] | None:
    """(errno, filename) of a disk-full / read-only / permission error anywhere in the chain or its text."""
    for e in _chain(exc):
        if isinstance(e, OSError) and e.errno in _ERRNO_TEXT:
            return e.errno, e.filename or ""
    text = "\n".join(str(e) for e in _chain(exc))
    for code, words in _ERRNO_TEXT.items():
        if m := re.search(rf"\[Errno {code}\][^:]*(?::\s*'([^']+)')?", text) or re.search(words, text):
            return code, (m.group(1) if m.re.groups else "") or ""
    return None


def free_bytes(path: str) -> int | None:
    """Free bytes on the disk holding ``path`` (its nearest existing parent); None for object stores."""
    if "://" in path:
        return None
    path = os.path.abspath(path)
    while not os.path.exists(path) and os.path.dirname(path) != path:
        path = os.path.dirname(path)
    return shutil.disk_usage(path).free


def message(exc: BaseException, output: str = "") -> tuple[int, str] | None:
    """(exit code, one message) for a stop this module knows, else None (the caller re-raises)."""
    if isinstance(exc, KeyboardInterrupt):
        return 130, f"stopped (Ctrl-C); {RESUME}"
    if isinstance(exc, Terminated):
        return 143, f"stopped (SIGTERM); {RESUME}"
    found = os_error(exc)
    if found is None:
        return None
    code, filename = found
    where = filename or output or "the output"
    if code in (errno.ENOSPC, errno.EDQUOT):
        free = free_bytes(filename or output) if (filename or output) else None
        left = f"{free / 2**20:.1f} MiB free" if free is not None else "no space left"
        return 1, (f"disk full writing {where} ({left}); free space for at least one more shard (its tar, "
                   f"parquet and rejects: see the finished shards' sizes), then {RESUME}; nothing "
                   f"finished was lost")
    what = "is read-only" if code == errno.EROFS else "is not writable (permission denied)"
    return 2, f"{where} {what}; choose a writable --output (or fix its permissions) and run again"
