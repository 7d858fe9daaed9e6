"""Console progress for local runs: shards done / total, images, rate and ETA, read off the commit markers."""
from __future__ import annotations

import threading
import time
from typing import Callable

from transforms.core import fileio


class Progress:
    """Prints shards done / total, images/s and ETA by watching the shards' commit markers."""

    def __init__(self, out: str, total: int, done_before: int, log: Callable, every: float = 2.0):
        self.out, self.total, self.before, self.log, self.every = out, total, done_before, log, every
        self._images: dict[str, int] = {}  # stats file -> its images; a finished shard's file never changes
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _images_done(self) -> tuple[int, int]:
        names = fileio.list_names(fileio.join(self.out, "shards"), "*.stats.json")
        for n in names:
            if n not in self._images:
                try:
                    self._images[n] = fileio.read_json(fileio.join(self.out, "shards", n))["images_in"]
                except (OSError, ValueError, KeyError):
                    pass
        return len(names), sum(self._images.values())

    def _run(self):
        start, last_shards, last_print = time.time(), -1, 0.0
        while not self._stop.wait(self.every):
            shards, images = self._images_done()
            now = time.time()
            if shards != last_shards or now - last_print > 30:
                rate = max(shards - self.before, 0) / (now - start)
                eta = (self.total - shards) / rate if rate > 0 else float("nan")
                self.log(f"[progress] shards {shards}/{self.total}, images {images}, "
                         f"{rate * 60:.1f} shards/min, ETA {eta:.0f}s")
                last_shards, last_print = shards, now

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
