"""The Beam ModelHandler every model family shares.

A family says which models it needs (``model_refs``) and how to build its runner (``build``): an object
whose ``predict(requests) -> predictions`` does all the work, so it also works through the proxy Beam puts
in front of a model shared across processes. This base adds the rest: device and dtype from the config,
calls of ``batch_size`` rows, sharing from ``share_across_processes``, a load error that names the model
and how to get it, and per-element isolation (one bad element does not fail its call's others).
``UnitHandler`` is what RunInference runs: one element is one unit's requests (transforms/core/records.py
``Unit``), called in chunks of ``batch_size``, so what a call holds is fixed by the plan.
"""
from __future__ import annotations

import importlib.util
import logging
import os
import re
import threading
import time
from typing import Any, ClassVar, Sequence

import numpy as np
from apache_beam.ml.inference.base import ModelHandler

from configs.schema import ConfigError, ModelConfig
from model_wrappers.locate import ModelRef, how_to_get, locate
from model_wrappers.types import MODEL_NAMESPACE, InferenceFailed

log = logging.getLogger(__name__)


class ModelLoadError(ConfigError):
    """A model could not be loaded: the run stops, and the command line prints this one message (exit 2)."""


def worker_index() -> int:
    """This process's index among the local Beam workers (Beam names them 'worker_N' in WORKER_ID); 0
    outside a worker process."""
    m = re.fullmatch(r"worker_(\d+)", os.environ.get("WORKER_ID", ""))
    return int(m.group(1)) if m else 0


def resolve_device(pref: str, cuda_available: bool, gpu_count: int = 1, index: int = 0) -> str:
    """'auto' -> one GPU per worker process (worker index mod GPU count) when CUDA is present, else 'cpu';
    explicit choices ('cpu', 'cuda' = the default GPU, 'cuda:N') are kept."""
    if pref == "auto":
        if not cuda_available:
            return "cpu"
        return f"cuda:{index % gpu_count}" if gpu_count > 1 else "cuda"
    return pref


def resolve_dtype(pref: str, device: str) -> str:
    """'auto' -> float16 on CUDA, float32 on CPU; explicit choices are kept."""
    if pref == "auto":
        return "float16" if device.startswith("cuda") else "float32"
    return pref


def run_chunks(predict, requests: list, size: int) -> tuple[list, int]:
    """(the predictions of ``requests``, the number of model calls): ``predict`` on consecutive chunks of
    ``size`` requests (the last may be smaller). The caller fixes which requests come together (a unit's,
    in plan order), so a batched forward pass, whose float kernels depend on the call's shape, still gives
    the same bytes on every runner. A chunk that fails is called again one request at a time: the request
    that fails alone becomes ``InferenceFailed`` (or re-raises when it is the only one, so RunInference's
    dead-letter output records it), the others go on."""
    out, calls = [], 0
    for start in range(0, len(requests), size):
        chunk = requests[start: start + size]
        calls += 1
        try:
            out.extend(predict(chunk))
            continue
        except Exception as e:  # noqa: BLE001 - per-element failures are data
            if len(requests) == 1:
                raise
            if len(chunk) == 1:
                out.append(InferenceFailed(f"{type(e).__name__}: {e}"[:500]))
                continue
            log.warning("a model call of %d rows failed; calling them one by one", len(chunk), exc_info=True)
        for element in chunk:
            calls += 1
            try:
                out.extend(predict([element]))
            except Exception as e:  # noqa: BLE001 - per-element failures are data
                out.append(InferenceFailed(f"{type(e).__name__}: {e}"[:500]))
    return out, calls


class Serialized:
    """A loaded runner that runs one ``predict`` at a time: torch modules and diffusers schedulers keep
    state between calls, so concurrent calls from Beam's threads (multi_threading, Dataflow's SDK threads)
    or from the processes sharing one model (``share_across_processes``) must not interleave. The lock lives
    with the model (in the sharing server when shared), so every caller of that one copy waits its turn."""

    def __init__(self, runner: Any):
        self.runner = runner
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:   # the runner's own attributes (device, model, ...)
        if name == "runner":
            raise AttributeError(name)
        return getattr(self.runner, name)

    def predict(self, requests: list) -> list:
        with self._lock:
            return self.runner.predict(requests)


def _nbytes(value: Any) -> int:
    if isinstance(value, np.ndarray):
        return value.nbytes
    slots = getattr(type(value), "__slots__", ())
    return sum(_nbytes(getattr(value, s)) for s in slots) if slots else len(str(value))


class Handler(ModelHandler):
    """Base of every family. Subclasses set ``family`` and implement ``model_refs`` and ``build``."""
    family: ClassVar[str] = ""
    requires: ClassVar[tuple[str, ...]] = ("torch", "transformers")   # import names of the extras it needs

    def __init__(self, cfg: ModelConfig):
        # Used alone (tests, scripts), Beam batches of batch_size; in a build, UnitHandler batches instead.
        super().__init__(min_batch_size=cfg.batch_size, max_batch_size=cfg.batch_size,
                         large_model=cfg.share_across_processes)
        self.cfg = cfg

    def model_refs(self) -> list[ModelRef]:
        raise NotImplementedError

    def config_problem(self, model: ModelRef, config: dict) -> str | None:
        """Why the model ``model`` names, whose config (config.json, or a diffusers model_index.json) is
        ``config``, is of the wrong family or task for this stage; None when it fits. Read before any
        weights are (``inpaint-pairs check`` and the start of ``build``)."""
        return None

    def missing_packages(self) -> list[str]:
        """Packages this family needs that are not installed (install hint: pip install 'inpaint-pairs[models]')."""
        return [name for name in self.requires if importlib.util.find_spec(name) is None]

    def build(self, device: str, dtype: str) -> Any:
        """Load the weights; return the runner (an object with ``predict(requests) -> list``)."""
        raise NotImplementedError

    def load_model(self) -> Any:
        import torch
        cuda = torch.cuda.is_available()
        device = resolve_device(self.cfg.device, cuda, torch.cuda.device_count() if cuda else 0, worker_index())
        log.info("%s model on %s (worker %d)", self.family, device, worker_index())
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise ModelLoadError(f"{self.cfg._KEY}.device is {device} but CUDA is not available here; "
                                 f"use --set {self.cfg._KEY}.device=auto (or cpu)")
        try:
            return Serialized(self.build(device, resolve_dtype(self.cfg.dtype, device)))
        except Exception as e:
            raise ModelLoadError(self.load_failure(e)) from e

    def load_failure(self, e: Exception) -> str:
        """'could not load <key> <ref> (<where>): <error>; <how to get it>' for the first model at fault."""
        for m in self.model_refs():
            where = locate(m)
            if not where.found:
                return f"could not load {m.key} {m.ref!r} ({where.status}: {where.path}): {e}; {how_to_get(m)}"
        refs = ", ".join(f"{m.key}={m.ref!r}" for m in self.model_refs())
        return (f"could not load the {self.family} model ({refs}): {type(e).__name__}: {e}; the files are there "
                f"but unreadable or of another kind: download them again, or point the key at another copy")

    def run_inference(self, batch: Sequence[Any], model: Any, inference_args: dict | None = None) -> list:
        return run_chunks(model.predict, list(batch), self.cfg.batch_size)[0]

    def get_num_bytes(self, batch: Sequence[Any]) -> int:
        return sum(_nbytes(x) for x in batch)

    def get_metrics_namespace(self) -> str:
        return f"inpaint_pairs_{self.family}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(m.ref for m in self.model_refs())})"


class UnitHandler(ModelHandler):
    """RunInference's handler in a build: an element is one unit's requests, a RunInference batch is one
    element (so Beam's bundles never regroup rows), and the model is called on the unit's requests in
    chunks of the family's ``batch_size``. Counts calls, rows and the microseconds in the model per stage
    (Beam counters in MODEL_NAMESPACE; the build records them, report.json and the funnel show them)."""

    def __init__(self, inner: Handler, stage: str):
        super().__init__(min_batch_size=1, max_batch_size=1, large_model=inner.share_model_across_processes())
        self.inner, self.stage = inner, stage

    def load_model(self) -> Any:
        return self.inner.load_model()

    def run_inference(self, batch: Sequence[list], model: Any, inference_args: dict | None = None) -> list:
        from apache_beam.metrics import Metrics
        answers = []
        for requests in batch:
            started = time.perf_counter()
            found, calls = run_chunks(model.predict, list(requests), self.inner.cfg.batch_size)
            micros = int((time.perf_counter() - started) * 1e6)
            for name, value in (("calls", calls), ("rows", len(requests)), ("micros", micros)):
                Metrics.counter(MODEL_NAMESPACE, f"{self.stage}/{name}").inc(value)
            answers.append(found)
        return answers

    def get_num_bytes(self, batch: Sequence[list]) -> int:
        return sum(self.inner.get_num_bytes(requests) for requests in batch)

    def get_metrics_namespace(self) -> str:
        return self.inner.get_metrics_namespace()

    def __repr__(self) -> str:
        return f"UnitHandler({self.inner!r}, {self.stage})"
