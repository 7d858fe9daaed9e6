"""The one thin Beam wrapper every stage shares, pure or model-backed.

Elements are ``Unit``s (transforms/core/records.py): fixed groups of one shard's records. A pure stage is a
function ``fn(record, cfg)`` returning a record, a Reject, or a list of both, mapped over a unit's records
in order. A model stage is a ``ModelStep``: pure ``pre(record, cfg) -> (record, request) | Reject | list``
on each record, then RunInference on the unit's requests (the unit of records is the key, so predictions
come back beside their records and no join is needed; the handler, model_wrappers/base.py ``UnitHandler``,
calls the model on them in chunks of ``batch_size``), then pure ``post(record, prediction, cfg) -> record
| Reject | list`` on each. Rejects leave one by one; a unit left with no record ends.

Per-element failures are data: a ``StageError`` becomes a Reject with its reason, any other exception a
Reject with reason 'error' (the run goes on), and so does a failed inference (per element when the handler
isolated it, per batch from RunInference's dead-letter output). A model that fails to load stops the run.
Beam counters count kept and dropped per stage and reason, so remote runners show the funnel live.
"""
from __future__ import annotations

import collections
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, NamedTuple

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.utils.windowed_value import WindowedValue

from model_wrappers.types import InferenceFailed
from transforms.core.records import Reject, StageError, Unit, reject

REJECTS = "rejects"
NAMESPACE = "inpaint_pairs"
log = logging.getLogger(__name__)


def within(value: float, limit: float | None, direction: str) -> bool:
    """``value`` passes a 'min' (at least) or 'max' (at most) ``limit``; a limit of None (off) passes all."""
    return limit is None or (value >= limit if direction == "min" else value <= limit)


@dataclass(frozen=True)
class Threshold:
    """One test of a recorded score against one config value, declared once by the stage that runs it: a
    candidate is kept when ``Candidate.scores[score]`` is at least (``direction`` 'min') or at most ('max')
    the value at ``key`` ('section.name'), else it is the reject ``reason``. A value of None (the schema lets
    some keys take null) switches the test off. The report's histograms and strips, ``retune`` and the card
    read these declarations."""
    score: str
    key: str
    direction: str
    reason: str

    def __post_init__(self):
        if self.direction not in ("min", "max") or self.key.count(".") != 1:
            raise ValueError(f"Threshold {self.score}: direction min|max and a 'section.name' key, got "
                             f"{self.direction!r}, {self.key!r}")

    @property
    def name(self) -> str:
        """The key's name inside its section ('min_pixels' of 'filters.min_pixels')."""
        return self.key.split(".", 1)[1]

    def limit(self, section: Any) -> float | None:
        """The value this test compares against, from the stage's config section."""
        return getattr(section, self.name)

    def passes(self, value: float, limit: float | None) -> bool:
        return within(value, limit, self.direction)

    def detail(self, value: float, limit: float | None) -> str:
        """The reject's detail: 'consensus_std=0.2 > max_consensus=0.15'."""
        return f"{self.score}={value} {'<' if self.direction == 'min' else '>'} {self.name}={limit}"


@dataclass(frozen=True)
class ModelStep:
    """A model stage's registry entry: ``pre`` and ``post`` as above; ``family`` is a
    model_wrappers.registry.HANDLERS key; ``section`` maps the stage's cfg to the model's config section.
    A check declares what it tests (``thresholds``), the other settings of its section it reads (``reads``),
    the key of its model (``model_key``, e.g. 'quality.clip.model'), for the report, retune and the card, and
    the stage it runs after (``after``: checks declaring the same one run in their registry's order).
    A pure stage's registry entry is just its function."""
    pre: Callable[[Any, Any], Any]
    post: Callable[[Any, Any, Any], Any]
    family: str
    section: Callable[[Any], Any]
    thresholds: tuple[Threshold, ...] = ()
    reads: tuple[str, ...] = ()
    model_key: str = ""
    after: str = ""


def error_reject(rec: Any, stage: str, e: Exception) -> Reject:
    """The reject of a record whose stage raised: the StageError's reason, else 'error' with the exception."""
    if isinstance(e, StageError):
        return reject(rec, stage, e.reason, e.detail)
    return reject(rec, stage, "error", f"{type(e).__name__}: {e}"[:500])


def _as_list(result: Any, rec: Any, stage: str) -> list:
    if result is None:
        return [error_reject(rec, stage, TypeError(f"stage {stage} returned nothing for {rec.key}"))]
    return result if isinstance(result, list) else [result]


def run_stage(fn: Callable, rec: Any, cfg: Any, stage: str) -> list:
    """Call a stage function on one record; always returns a list of records and Rejects."""
    try:
        result = fn(rec, cfg)
    except Exception as e:  # noqa: BLE001 - one bad element must not stop the build
        if not isinstance(e, StageError):
            log.warning("stage %s failed on %s", stage, getattr(rec, "key", rec), exc_info=True)
        return [error_reject(rec, stage, e)]
    return _as_list(result, rec, stage)


def apply_post(post: Callable, rec: Any, prediction: Any, cfg: Any, stage: str) -> list:
    """``post(rec, prediction, cfg)`` as a list of records and Rejects; failures become Rejects."""
    if isinstance(prediction, InferenceFailed):
        return [reject(rec, stage, "error", prediction.detail[:500])]
    return run_stage(lambda r, c: post(r, prediction, c), rec, cfg, stage)


def batch_rejects(failed: tuple, stage: str) -> list[Reject]:
    """One dead-letter row of RunInference, ``(batch of (unit, requests), (type, repr, traceback))``: every
    record of the batch's units."""
    batch, (exc_type, exc_repr, _) = failed
    detail = f"{getattr(exc_type, '__name__', exc_type)}: {exc_repr}"
    return [reject(rec, stage, "error", detail[:500]) for unit, _ in batch for rec in unit.items]


def emit(stage: str, unit: Unit, outs: list, count_kept: bool = True):
    """Rejects to REJECTS, the records kept as one unit (none: the unit ends); Beam counters per
    stage/kept and stage/reason."""
    kept = []
    for out in outs:
        if isinstance(out, Reject):
            Metrics.counter(NAMESPACE, f"{stage}/{out.reason}").inc()
            yield beam.pvalue.TaggedOutput(REJECTS, out)
        else:
            kept.append(out)
    if count_kept and kept:
        Metrics.counter(NAMESPACE, f"{stage}/kept").inc(len(kept))
    if kept:
        yield Unit(unit.shard, unit.index, kept)


class _StageDoFn(beam.DoFn):
    def __init__(self, stage: str, fn: Callable, cfg: Any, count_kept: bool = True):
        self.stage, self.fn, self.cfg, self.count_kept = stage, fn, cfg, count_kept

    def process(self, unit):
        outs = [out for rec in unit.items for out in run_stage(self.fn, rec, self.cfg, self.stage)]
        yield from emit(self.stage, unit, outs, self.count_kept)


class _ThreadedStageDoFn(beam.DoFn):
    """A pure stage run on up to ``threads`` records at once by a thread pool per DoFn instance (for I/O
    bound stages: 'load' waits on the network). The records of the units received are submitted as they
    come; while more than ``2 x threads`` are in flight, the oldest unit is waited for. Units leave in input
    order with their records in order (whichever finished first), so what comes out does not depend on the
    network's timing. Counters and outputs are emitted on the bundle's thread."""

    def __init__(self, stage: str, fn: Callable, cfg: Any, threads: int):
        self.stage, self.fn, self.cfg, self.threads = stage, fn, cfg, threads
        self._pool: ThreadPoolExecutor | None = None
        self._pending: collections.deque = collections.deque()

    def setup(self):
        self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix=f"stage-{self.stage}")

    def start_bundle(self):
        self._pending = collections.deque()

    def _submit(self, unit: Unit) -> list:
        return [self._pool.submit(run_stage, self.fn, rec, self.cfg, self.stage) for rec in unit.items]

    def _done(self, unit: Unit, futures: list):
        return emit(self.stage, unit, [out for f in futures for out in f.result()])

    def process(self, unit, window=beam.DoFn.WindowParam, timestamp=beam.DoFn.TimestampParam):
        self._pending.append((unit, self._submit(unit), window, timestamp))
        while len(self._pending) > 1 and sum(len(f) for _, f, _, _ in self._pending) > 2 * self.threads:
            oldest, futures, _, _ = self._pending.popleft()
            yield from self._done(oldest, futures)

    def finish_bundle(self):
        while self._pending:
            unit, futures, window, timestamp = self._pending.popleft()
            yield from (_windowed(out, window, timestamp) for out in self._done(unit, futures))

    def teardown(self):
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


def _windowed(out: Any, window: Any, timestamp: Any):
    """An output of finish_bundle must carry its element's window (the main or the tagged output)."""
    if isinstance(out, beam.pvalue.TaggedOutput):
        return beam.pvalue.TaggedOutput(out.tag, WindowedValue(out.value, timestamp, [window]))
    return WindowedValue(out, timestamp, [window])


class _PreDoFn(beam.DoFn):
    """``pre`` on each record of a unit -> (the unit of records that made a request, their requests)."""

    def __init__(self, stage: str, fn: Callable, cfg: Any):
        self.stage, self.fn, self.cfg = stage, fn, cfg

    def process(self, unit):
        outs = [out for rec in unit.items for out in run_stage(self.fn, rec, self.cfg, self.stage)]
        for out in emit(self.stage, unit, outs, count_kept=False):
            if isinstance(out, Unit):   # kept: (record, request) pairs
                yield Unit(out.shard, out.index, [rec for rec, _ in out.items]), [req for _, req in out.items]
            else:
                yield out


class _PostDoFn(beam.DoFn):
    def __init__(self, stage: str, fn: Callable, cfg: Any):
        self.stage, self.fn, self.cfg = stage, fn, cfg

    def process(self, keyed):
        unit, predictions = keyed
        outs = [out for rec, prediction in zip(unit.items, predictions)
                for out in apply_post(self.fn, rec, prediction, self.cfg, self.stage)]
        yield from emit(self.stage, unit, outs)


class StageOutputs(NamedTuple):
    kept: Any
    rejects: Any


class Stage(beam.PTransform):
    """``units | Stage("load", load_image, cfg.image)`` -> outputs ``.kept`` (units) and ``.rejects``; a
    ModelStep with its ``handler`` (a ModelHandler of a unit's requests: model_wrappers/base.py UnitHandler)
    runs as pre -> RunInference -> post. ``threads`` > 1 runs a pure stage on that many records at once per
    worker (see _ThreadedStageDoFn)."""

    def __init__(self, stage: str, fn: Callable | ModelStep, cfg: Any, handler: Any = None, threads: int = 1):
        super().__init__(label=stage)
        self.stage, self.fn, self.cfg, self.handler, self.threads = stage, fn, cfg, handler, threads

    def expand(self, pcoll):
        if not isinstance(self.fn, ModelStep):
            dofn = (_ThreadedStageDoFn(self.stage, self.fn, self.cfg, self.threads) if self.threads > 1
                    else _StageDoFn(self.stage, self.fn, self.cfg))
            out = pcoll | beam.ParDo(dofn).with_outputs(REJECTS, main="kept")
            return StageOutputs(out.kept, out.rejects)
        # Imported here on purpose: Beam's RunInference module imports torch (seconds, ~300 MB), which a
        # run without a model stage never pays for.
        from apache_beam.ml.inference.base import KeyedModelHandler, RunInference
        pre = pcoll | "Pre" >> beam.ParDo(_PreDoFn(self.stage, self.fn.pre, self.cfg)
                                          ).with_outputs(REJECTS, main="requests")
        handler = KeyedModelHandler(self.handler)
        results, dlq = pre.requests | "Infer" >> RunInference(handler).with_exception_handling()
        failed = dlq.failed_inferences | "FailedBatches" >> beam.FlatMap(batch_rejects, self.stage)
        post = results | "Post" >> beam.ParDo(_PostDoFn(self.stage, self.fn.post, self.cfg)).with_outputs(
            REJECTS, main="kept")
        rejects = (pre.rejects, failed, post.rejects) | "Rejects" >> beam.Flatten()
        return StageOutputs(post.kept, rejects)
