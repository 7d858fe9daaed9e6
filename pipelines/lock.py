"""One writer per output: a lease file taken before a build (or a report) touches the output.

OUT/lock.json holds the holder (host, pid, start time, command) of a whole build or a ``report``;
OUT/lock-slice-I-of-N.json that of slice I of N. Slices of one run share the output by design and never
block each other; a whole build and a slice block each other. A lease is created with an exclusive create
(fileio.create_exclusive: O_EXCL locally, a conditional put on S3). A second writer stops with one message
naming the holder, or waits for it (``--wait``). A lease whose holder is gone is taken over with a note:
same host and a dead pid, or (another host) older than ``--lock-timeout`` hours.

Take-over is race-free locally (the stale lease is renamed away first; only one renamer succeeds). On
object stores a stale lease is deleted after re-reading it, so two take-overs racing within that read
could both delete; the conditional create after it still lets only one build hold the lease.
"""
from __future__ import annotations

import contextlib
import datetime
import errno
import json
import os
import socket
import sys
import time
import uuid
from typing import Callable, Iterator

from configs.schema import ConfigError
from transforms.core import fileio

WHOLE = "lock.json"
SLICE_PATTERN = "lock-slice-*.json"


def lease_name(part: tuple[int, int]) -> str:
    return WHOLE if part[1] == 1 else f"lock-slice-{part[0]}-of-{part[1]}.json"


def _conflicts(out: str, part: tuple[int, int]) -> list[str]:
    """The other leases that exclude this one: any slice's for a whole build; the whole build's for a slice."""
    return fileio.list_names(out, SLICE_PATTERN) if part[1] == 1 else fileio.list_names(out, WHOLE)


def holder(command: str) -> dict:
    return {"host": socket.gethostname(), "pid": os.getpid(), "command": command, "token": uuid.uuid4().hex,
            "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}


def _read(path: str, tries: int = 3) -> dict | None:
    """The lease at ``path``; None when there is none; {} when it stays unreadable (a write cut short, a
    link to nothing, JSON that is not an object). A lease read between its exclusive create and its write
    is empty for a moment: read again before calling it unreadable, so a live holder is never taken over
    for it."""
    if "://" not in path and os.path.isdir(path):
        raise ConfigError(f"{path} is a folder, not a lease of this output's writer; remove it (rm -r), then rerun")
    for attempt in range(tries):
        try:
            lease = json.loads(fileio.read_bytes(path))
            return lease if isinstance(lease, dict) else {}
        except FileNotFoundError:
            if "://" not in path and os.path.islink(path):
                return {}   # a link to nothing: its exclusive create fails, yet there is nothing to read
            return None
        except Exception:  # noqa: BLE001 - empty or cut short
            if attempt + 1 < tries:
                time.sleep(0.2)
    return {}


PID_MAX = 2 ** 22   # Linux's highest pid_max


def _pid(value) -> int | None:
    """A lease's pid when it can name one process (1 to PID_MAX; -1 or 0 would name a group), else None."""
    return value if type(value) is int and 0 < value <= PID_MAX else None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stale(lease: dict, timeout_hours: float, now: datetime.datetime | None = None) -> str | None:
    """Why ``lease``'s holder is gone ('pid N is not running on HOST', 'older than T h'), or None."""
    if not lease:
        return "the lease file is unreadable"
    if lease.get("host") == socket.gethostname():
        pid = _pid(lease.get("pid"))
        if pid is None:
            return f"its pid {lease.get('pid')!r} names no process"
        if not _pid_alive(pid):
            return f"pid {pid} is not running on {lease.get('host')}"
    now = now or datetime.datetime.now(datetime.timezone.utc)
    try:
        age = (now - datetime.datetime.fromisoformat(lease["started"])).total_seconds() / 3600
    except (KeyError, ValueError, TypeError):
        return "the lease names no start time"
    if lease.get("host") != socket.gethostname() and age > timeout_hours:
        return f"it is {age:.1f} h old (--lock-timeout {timeout_hours:g} h)"
    return None


def describe(lease: dict) -> str:
    return (f"{lease.get('command', '?')} by pid {lease.get('pid', '?')} on {lease.get('host', '?')} since "
            f"{lease.get('started', '?')}")


def _take_over(path: str, lease: dict) -> None:
    """Remove the stale ``lease`` at ``path`` unless another process already did (or replaced it)."""
    if "://" not in path:
        aside = f"{path}.stale-{uuid.uuid4().hex[:8]}"
        with contextlib.suppress(FileNotFoundError):
            os.rename(path, aside)   # atomic: of several takers, one renames, the others find nothing
            os.remove(aside)
        return
    if _read(path) == lease:
        fileio.delete([path])


def unwritable(out: str, e: BaseException) -> ConfigError:
    """The one message for an output that cannot be written (a file in the way, no such bucket, no access)."""
    if "://" not in out:
        return ConfigError(f"--output {out} is not writable ({getattr(e, 'strerror', None) or e}); choose another "
                           f"folder")
    return ConfigError(f"--output {out} cannot be written ({type(e).__name__}: {str(e)[:200]}); check that the "
                       f"bucket exists and the storage flags (e.g. --s3_endpoint_url, credentials)")


def _create(out: str, path: str, lease: dict) -> bool:
    try:
        return fileio.create_exclusive(path, json.dumps(lease, indent=1, sort_keys=True).encode())
    except OSError as e:
        if isinstance(e, PermissionError) or e.errno == errno.EROFS:
            raise   # pipelines/exits.py: the read-only output message
        raise unwritable(out, e) from None
    except Exception as e:  # noqa: BLE001 - an object store's client error (no such bucket, access denied)
        if "://" not in out:
            raise
        raise unwritable(out, e) from None


def acquire(out: str, part: tuple[int, int], command: str, wait: bool = False, timeout_hours: float = 24.0,
            log: Callable = print, poll: float = 5.0) -> str:
    """Take this run's lease on ``out``; return its path. Raises ConfigError (exit 2) when another writer
    holds the output and ``wait`` is off; with ``wait``, polls every ``poll`` seconds until it is free."""
    path = fileio.join(out, lease_name(part))
    mine = holder(command)
    said = False
    while True:
        if _create(out, path, mine):
            blocking = [(name, _read(fileio.join(out, name))) for name in _conflicts(out, part)]
            live = []
            for name, lease in blocking:
                if lease is None:
                    continue
                why = stale(lease, timeout_hours)
                if why:
                    log(f"lock: taking over {name} of {describe(lease)}: {why}")
                    _take_over(fileio.join(out, name), lease)
                else:
                    live.append((name, lease))
            if not live:
                return path
            release(path, mine)
            name, lease = live[0]
        else:
            name, lease = lease_name(part), _read(path)
            if lease is None:
                continue   # released between our create and our read: try again
            why = stale(lease, timeout_hours)
            if why:
                log(f"lock: taking over {name} of {describe(lease)}: {why}")
                _take_over(path, lease)
                continue
        if not wait:
            raise ConfigError(f"--output {out} is being written by another run: {describe(lease)} "
                              f"({fileio.join(out, name)}). Wait for it (rerun with --wait), or, if that run is "
                              f"gone, delete {fileio.join(out, name)}")
        if not said:
            log(f"lock: waiting for {describe(lease)} to finish (--wait; checking every {poll:g} s)")
            said = True
        time.sleep(poll)


def release(path: str, lease: dict) -> None:
    """Remove our lease (only if it is still ours: a take-over may have replaced it)."""
    with contextlib.suppress(Exception):
        if _read(path) == lease:
            fileio.delete([path])


@contextlib.contextmanager
def held(out: str, part: tuple[int, int] = (0, 1), command: str = "", wait: bool = False,
         timeout_hours: float = 24.0, log: Callable = print, poll: float = 5.0) -> Iterator[str]:
    """``with held(out, ...)``: the lease for the block, released on any exit (errors, Ctrl-C, SIGTERM)."""
    command = command or " ".join(["inpaint-pairs", *sys.argv[1:]])[:300]
    path = acquire(out, part, command, wait, timeout_hours, log, poll)
    lease = _read(path)
    try:
        yield path
    finally:
        release(path, lease)
