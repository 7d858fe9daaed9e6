"""Live progress of local runs: images and pairs done out of the planned images, images/s and ETA.

Every worker process (FnApiRunner's in-process workers and its multi_processing subprocesses alike) counts
what its ``CountFn`` steps see and rewrites one small file ``<folder>/<pid>.json`` ({"images", "pairs"})
at most once a second and at each bundle's end; the driver (``Progress``) sums those files every
``every`` seconds. So progress moves within a shard, not only when a shard is committed. The folder is
a temporary one the driver names in ``PROGRESS_ENV`` (inherited by worker subprocesses); without it
(remote runners) counting is a no-op and Beam's own counters are what the runner shows.

On a terminal the driver draws a tqdm bar; otherwise (logs, CI) it prints plain lines:
``[progress] images 120/400 (30%), pairs 85, 3.1 images/s, ETA 90s``.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import threading
import time
from typing import Callable

import apache_beam as beam
from tqdm import tqdm

PROGRESS_ENV = "INPAINT_PAIRS_PROGRESS"
KINDS = ("images", "pairs")


class _Tally:
    """This process's counts, written to its file at most once per ``every`` seconds (thread-safe)."""

    def __init__(self, every: float = 1.0):
        self.counts = dict.fromkeys(KINDS, 0)
        self.every, self.written, self.lock, self.folder = every, 0.0, threading.Lock(), ""

    def add(self, kind: str, n: int = 1, force: bool = False) -> None:
        folder = os.environ.get(PROGRESS_ENV)
        if not folder:
            return
        with self.lock:
            if folder != self.folder:  # a new build in this process: start from zero
                self.folder, self.counts = folder, dict.fromkeys(KINDS, 0)
            self.counts[kind] += n
            now = time.monotonic()
            if force or now - self.written >= self.every:
                self.written = now
                path = os.path.join(folder, f"{os.getpid()}.json")
                try:
                    with open(path + ".tmp", "w") as f:
                        json.dump(self.counts, f)
                    os.replace(path + ".tmp", path)
                except OSError:
                    pass  # the driver has finished and removed the folder: progress is best effort


TALLY = _Tally()


class CountFn(beam.DoFn):
    """Passes elements through unchanged, counting them as ``kind`` ('images' or 'pairs'): one each, or
    as many as ``members(element)`` lists (a unit's records)."""

    def __init__(self, kind: str, members: Callable | None = None):
        if kind not in KINDS:
            raise ValueError(f"progress kind {kind!r}: expected one of {KINDS}")
        self.kind, self.members = kind, members

    def process(self, element):
        TALLY.add(self.kind, len(self.members(element)) if self.members else 1)
        yield element

    def finish_bundle(self):
        TALLY.add(self.kind, 0, force=True)


def read_counts(folder: str) -> dict[str, int]:
    """The sum of every worker file in ``folder`` (a file being replaced is read on the next poll)."""
    total = dict.fromkeys(KINDS, 0)
    for name in os.listdir(folder):
        if name.endswith(".json"):
            try:
                with open(os.path.join(folder, name)) as f:
                    counts = json.load(f)
            except (OSError, ValueError):
                continue
            for k in KINDS:
                total[k] += int(counts.get(k, 0))
    return total


def progress_line(images: int, pairs: int, total: int, elapsed: float) -> str:
    """``images done/total (pct), pairs, images/s, ETA``; ETA '--' until the first image is done."""
    rate = images / elapsed if elapsed > 0 else 0.0
    eta = f"{max(total - images, 0) / rate:.0f}s" if rate > 0 else "--"
    pct = 100 * images / total if total else 100.0
    return f"images {images}/{total} ({pct:.0f}%), pairs {pairs}, {rate:.1f} images/s, ETA {eta}"


class Progress:
    """Context manager around the Beam runs of a local build: sets up the counters' folder and reports
    the images (of ``total`` to build) and pairs done every ``every`` seconds, as a bar on a terminal."""

    def __init__(self, total: int, log: Callable = print, every: float = 2.0, tty: bool | None = None):
        self.total, self.log, self.every = total, log, every
        self.tty = sys.stderr.isatty() if tty is None else tty
        self.folder = ""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._bar = None
        self._old_env = None

    def _tick(self, start: float) -> None:
        counts = read_counts(self.folder)
        images = min(counts["images"], self.total)  # a retried bundle counts twice: never past the plan
        if self._bar is not None:
            self._bar.n = images
            self._bar.set_postfix_str(f"pairs {counts['pairs']}", refresh=False)
            self._bar.refresh()
        else:
            self.log("[progress] " + progress_line(images, counts["pairs"], self.total, time.time() - start))

    def _run(self) -> None:
        start = time.time()
        while not self._stop.wait(self.every):
            self._tick(start)
        self._tick(start)

    def __enter__(self):
        self.folder = tempfile.mkdtemp(prefix="inpaint-pairs-progress-")
        self._old_env = os.environ.get(PROGRESS_ENV)
        os.environ[PROGRESS_ENV] = self.folder
        if self.tty:
            self._bar = tqdm(total=self.total, unit="img", desc="build", file=sys.stderr, dynamic_ncols=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        if self._bar is not None:
            self._bar.close()
        if self._old_env is None:
            os.environ.pop(PROGRESS_ENV, None)
        else:
            os.environ[PROGRESS_ENV] = self._old_env
        shutil.rmtree(self.folder, ignore_errors=True)
