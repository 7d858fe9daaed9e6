"""A stage that needs a model: pure pre-process -> RunInference -> pure post-process.

``ModelStep`` (transforms/model_step.py) names the two pure functions and the model family:
    pre(record, cfg) -> (record, request) | Reject | list
    post(record, prediction, cfg) -> record | Reject | list
``ModelStage`` wires them around ``RunInference(KeyedModelHandler(handler)).with_exception_handling()``;
the record itself is the key, so its prediction comes back beside it and no join is needed. A failed
inference becomes a Reject with reason 'error' (per element when the handler isolated it, per batch from
RunInference's dead-letter output); the run goes on. A model that fails to load stops the run.
"""
from __future__ import annotations

from typing import Any, Callable, NamedTuple

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.ml.inference.base import KeyedModelHandler, ModelHandler, RunInference

from model_wrappers.types import InferenceFailed
from transforms.model_step import ModelStep
from transforms.record import Candidate, ImageRecord, Reject, reject_candidate, reject_image
from transforms.stage import NAMESPACE, REJECTS, error_reject, run_stage


def failure_reject(rec: Any, stage: str, detail: str) -> Reject:
    """The reject row of a record whose inference failed."""
    if isinstance(rec, Candidate):
        return reject_candidate(rec, stage, "error", detail[:500])
    if isinstance(rec, ImageRecord):
        return reject_image(rec, stage, "error", detail[:500])
    raise TypeError(f"not a record: {type(rec).__name__}")


def apply_post(post: Callable, rec: Any, prediction: Any, cfg: Any, stage: str) -> list:
    """``post(rec, prediction, cfg)`` as a list of records and Rejects; failures become Rejects."""
    if isinstance(prediction, InferenceFailed):
        return [failure_reject(rec, stage, prediction.detail)]
    try:
        out = post(rec, prediction, cfg)
    except Exception as e:  # noqa: BLE001 - one bad element must not stop the build
        return [error_reject(rec, stage, e)]
    if out is None:
        return [failure_reject(rec, stage, f"TypeError: stage {stage} returned nothing for {rec.key}")]
    return out if isinstance(out, list) else [out]


def batch_rejects(failed: tuple, stage: str) -> list[Reject]:
    """One dead-letter row of RunInference, ``(batch of (record, request), (type, repr, traceback))``."""
    batch, (exc_type, exc_repr, _) = failed
    detail = f"{getattr(exc_type, '__name__', exc_type)}: {exc_repr}"
    return [failure_reject(rec, stage, detail) for rec, _ in batch]


def _emit(stage: str, outs: list, count_kept: bool = True):
    for out in outs:
        if isinstance(out, Reject):
            Metrics.counter(NAMESPACE, f"{stage}/{out.reason}").inc()
            yield beam.pvalue.TaggedOutput(REJECTS, out)
        else:
            if count_kept:
                Metrics.counter(NAMESPACE, f"{stage}/kept").inc()
            yield out


class _PreDoFn(beam.DoFn):
    def __init__(self, stage: str, fn: Callable, cfg: Any):
        self.stage, self.fn, self.cfg = stage, fn, cfg

    def process(self, rec):
        yield from _emit(self.stage, run_stage(self.fn, rec, self.cfg, self.stage), count_kept=False)


class _PostDoFn(beam.DoFn):
    def __init__(self, stage: str, fn: Callable, cfg: Any):
        self.stage, self.fn, self.cfg = stage, fn, cfg

    def process(self, keyed):
        rec, prediction = keyed
        yield from _emit(self.stage, apply_post(self.fn, rec, prediction, self.cfg, self.stage))


class StageOutputs(NamedTuple):
    kept: Any
    rejects: Any


class ModelStage(beam.PTransform):
    """``pcoll | ModelStage("remove", step, cfg.removal, handler)`` -> ``.kept`` and ``.rejects``."""

    def __init__(self, stage: str, step: ModelStep, cfg: Any, handler: ModelHandler):
        super().__init__(label=stage)
        self.stage, self.step, self.cfg, self.handler = stage, step, cfg, handler

    def expand(self, pcoll):
        pre = pcoll | "Pre" >> beam.ParDo(_PreDoFn(self.stage, self.step.pre, self.cfg)).with_outputs(
            REJECTS, main="requests")
        results, dlq = (pre.requests
                        | "Infer" >> RunInference(KeyedModelHandler(self.handler)).with_exception_handling())
        failed = dlq.failed_inferences | "FailedBatches" >> beam.FlatMap(batch_rejects, self.stage)
        post = results | "Post" >> beam.ParDo(_PostDoFn(self.stage, self.step.post, self.cfg)).with_outputs(
            REJECTS, main="kept")
        rejects = (pre.rejects, failed, post.rejects) | "Rejects" >> beam.Flatten()
        return StageOutputs(post.kept, rejects)
