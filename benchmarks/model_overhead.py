"""Benchmark 2: what the model path costs beyond the model itself (target: wall <= 1.10x busy).

    .venv/bin/python benchmarks/model_overhead.py [--elements 2000] [--batch 8] [--call-ms 5] [--workers 1]

A compute-bound stand-in model (repeated float32 matrix products sized to take about --call-ms per
call) sits behind the project's real model path: transforms.core.stage.Stage -> Beam
RunInference(KeyedModelHandler(UnitHandler(handler))) with the project's Handler base, its lock
(``Serialized``) and its calls of --batch rows of a unit of 16 elements. The figure compares the pipeline's
wall time with the time the model was busy (summed over calls, divided by the workers, each with its own
copy); a first, untimed run pays the one-off imports.
"""
from __future__ import annotations

import argparse
import tempfile
import time

import common  # noqa: F401 - puts the project on sys.path
import apache_beam as beam
import numpy as np

from configs.schema import ModelConfig
from model_wrappers.base import Handler, Serialized, UnitHandler
from transforms.core.stage import Stage
from transforms.core.stage import ModelStep
from transforms.core.records import ImageRecord, Unit, units


class Burner:
    """The stand-in model: ``predict`` multiplies matrices for a fixed number of rounds per batch."""

    def __init__(self, rounds: int, log_path: str):
        self.rounds, self.log_path = rounds, log_path
        self.a = np.random.default_rng(0).standard_normal((256, 256)).astype(np.float32)

    def predict(self, requests: list) -> list:
        start = time.perf_counter()
        m = self.a
        for _ in range(self.rounds):
            m = np.tanh(m @ self.a)
        with open(self.log_path, "a") as f:
            f.write(f"{time.perf_counter() - start}\n")
        return [float(m[0, 0])] * len(requests)


class BurnHandler(Handler):
    family = "burn"
    requires = ()

    def __init__(self, cfg: ModelConfig, rounds: int, log_path: str):
        super().__init__(cfg)
        self.rounds, self.log_path = rounds, log_path

    def model_refs(self):
        return []

    def load_model(self):
        return Serialized(Burner(self.rounds, self.log_path))


STEP = ModelStep(pre=lambda rec, cfg: (rec, rec.key), post=lambda rec, pred, cfg: rec, family="burn",
                 section=lambda cfg: cfg)


def rounds_for(ms: float) -> int:
    burner = Burner(50, "/dev/null")
    start = time.perf_counter()
    burner.predict([0])
    return max(1, round(50 * ms / 1000 / (time.perf_counter() - start)))


def record(i: int) -> ImageRecord:
    return ImageRecord(key=f"k{i}", shard=0, uri="", source_id=str(i), image=np.zeros((64, 64, 3), np.uint8))


def unit_list(n: int, size: int = 16) -> list[Unit]:
    return units(0, [record(i) for i in range(n)], size)


def run_pipeline(handler: BurnHandler, n: int, workers: int) -> None:
    options = beam.options.pipeline_options.PipelineOptions(
        ["--runner=FnApiRunner", f"--direct_num_workers={workers}", "--direct_running_mode=multi_processing"])
    with beam.Pipeline(options=options) as p:
        out = p | beam.Create(unit_list(n)) | beam.Reshuffle() | Stage("burn", STEP, None, UnitHandler(handler, "burn"))
        _ = out.kept | beam.combiners.Count.Globally()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--elements", type=int, default=2000)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--call-ms", type=float, default=5.0, help="model time per call (one element per call)")
    ap.add_argument("--workers", type=int, default=1)
    args = ap.parse_args()
    log_path = tempfile.mktemp(prefix="burn-")
    handler = BurnHandler(ModelConfig(batch_size=args.batch), rounds_for(args.call_ms), log_path)
    run_pipeline(handler, 2 * args.batch, args.workers)  # warm-up: imports and first-run costs, not timed
    open(log_path, "w").close()
    start = time.perf_counter()
    run_pipeline(handler, args.elements, args.workers)
    wall = time.perf_counter() - start
    busy = [float(v) for v in open(log_path)]
    per_worker = sum(busy) / args.workers
    print(f"{args.elements} elements in {len(busy)} calls (batches of {args.batch}), ~{args.call_ms:.0f} ms per "
          f"call, {args.workers} worker(s)")
    print(f"model busy {per_worker:.2f} s per worker, pipeline wall {wall:.2f} s, ratio {wall / per_worker:.3f} "
          f"(target <= 1.10)")


if __name__ == "__main__":
    main()
