"""The one thin Beam wrapper every stage shares: run ``fn(record, cfg)``, split records from Rejects.

A stage function returns a record, a Reject, or a list of both. An exception on one element becomes a
Reject with reason 'error' (the run goes on); Beam counters count kept and dropped per stage and reason,
so remote runners show the funnel live.
"""
from __future__ import annotations

import logging
from typing import Any, Callable

import apache_beam as beam
from apache_beam.metrics import Metrics

from transforms.record import Candidate, ImageRecord, Reject

REJECTS = "rejects"
NAMESPACE = "inpaint_pairs"
log = logging.getLogger(__name__)


def error_reject(rec: Any, stage: str, e: Exception) -> Reject:
    detail = f"{type(e).__name__}: {e}"[:500]
    if isinstance(rec, Candidate):
        return Reject(rec.key, rec.shard, rec.image_key, "candidate", stage, "error", detail)
    if isinstance(rec, ImageRecord):
        return Reject(rec.key, rec.shard, rec.key, "image", stage, "error", detail)
    raise e


def run_stage(fn: Callable, rec: Any, cfg: Any, stage: str) -> list:
    """Call a stage function on one record; always returns a list of records and Rejects."""
    try:
        result = fn(rec, cfg)
    except Exception as e:  # noqa: BLE001 - one bad element must not stop the build
        log.warning("stage %s failed on %s", stage, getattr(rec, "key", rec), exc_info=True)
        return [error_reject(rec, stage, e)]
    if result is None:
        return [error_reject(rec, stage, TypeError(f"stage {stage} returned nothing for {rec.key}"))]
    return result if isinstance(result, list) else [result]


def run_chain(rec: Any, chain: list[tuple[str, Callable, Any]]) -> tuple[list, list[Reject]]:
    """Run one record through (name, fn, cfg) stages in a plain loop: (final records, rejects)."""
    items, rejects = [rec], []
    for name, fn, cfg in chain:
        nxt = []
        for item in items:
            for out in run_stage(fn, item, cfg, name):
                (rejects if isinstance(out, Reject) else nxt).append(out)
        items = nxt
    return items, rejects


class _StageDoFn(beam.DoFn):
    def __init__(self, stage: str, fn: Callable, cfg: Any):
        self.stage, self.fn, self.cfg = stage, fn, cfg

    def process(self, rec):
        for out in run_stage(self.fn, rec, self.cfg, self.stage):
            if isinstance(out, Reject):
                Metrics.counter(NAMESPACE, f"{self.stage}/{out.reason}").inc()
                yield beam.pvalue.TaggedOutput(REJECTS, out)
            else:
                Metrics.counter(NAMESPACE, f"{self.stage}/kept").inc()
                yield out


class Stage(beam.PTransform):
    """``pcoll | Stage("load", load_image, cfg.image)`` -> outputs ``.kept`` and ``.rejects``."""

    def __init__(self, stage: str, fn: Callable, cfg: Any):
        super().__init__(label=stage)
        self.stage, self.fn, self.cfg = stage, fn, cfg

    def expand(self, pcoll):
        return pcoll | beam.ParDo(_StageDoFn(self.stage, self.fn, self.cfg)).with_outputs(REJECTS, main="kept")
