"""Benchmark: what a recipe's model stages cost on this machine's accelerator, at chosen batch sizes.

    .venv/bin/python benchmarks/gpu_recipe.py [--config configs/pipe_coco.yaml] [--images 64]
        [--batch-sizes 8,1] [--set key=value ...] [--tiny FOLDER]

Builds the recipe on the first ``--images`` images of its source (a real build: plan, units, RunInference,
shards) once per batch size, every model section's ``batch_size`` set to it, and prints per model stage: seconds
per row, rows per call and calls (report.json's ``model_calls``), then the build's wall time, the share of it
the models were busy (their seconds summed over stages, over the wall time), and peak accelerator memory
(torch.cuda.max_memory_allocated; the models run in this process: one local worker). On a GPU machine, point
the config at your models and data (``--set source.annotations=... --set removal.diffusion.model=...``).
``--tiny FOLDER`` builds the tests' tiny random models there and runs them on the CPU on the demo photos
(repeated to ``--images`` entries) at 64 px: the figures then say what the path costs around the models and
what batching saves on them, not what a real model costs.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

from common import DEMO, ROOT, peak_rss_mb, repeated_demo

from configs.schema import load_config
from pipelines.run import run_build

MODEL_SECTIONS = ("removal.diffusion", "describe.vlm", "instructions.llm", "quality.clip", "quality.dino",
                  "masks.sam", "masks.grounding", "masks.diffedit")


def tiny_sets(folder: str, images: int) -> list[str]:
    """The tests' tiny models (built under ``folder``) in every model stage of PIPE, on the demo photos
    repeated to ``images`` entries."""
    sys.path.insert(0, os.path.join(ROOT, "tests"))
    from tiny_models import tiny_models, tiny_overrides
    sets = tiny_overrides(tiny_models(os.path.join(folder, "models")), masks=None, quality=True)
    coco = repeated_demo(os.path.join(folder, "coco"), images)
    return [*sets, f"source.annotations={coco}", f"source.images={DEMO}/images",
            "source.name=demo", "image.size=64", "image.min_side=32", "filters.min_pixels=16",
            "quality.max_consensus=1", "quality.max_removal_score=1", "quality.min_class_similarity=-1",
            "quality.max_importance=1"]


def build_once(config: str, sets: list[str], images: int, batch: int, out: str) -> dict:
    batch_sets = [f"{s}.batch_size={batch}" for s in MODEL_SECTIONS]
    cfg = load_config(config, [*sets, f"source.limit={images}", *batch_sets])
    try:
        import torch
        cuda = torch.cuda.is_available()
        if cuda:
            torch.cuda.reset_peak_memory_stats()
    except ImportError:
        cuda = False
    started = time.perf_counter()
    run_build(cfg, out, [], log=lambda *_: None)
    wall = time.perf_counter() - started
    report = json.load(open(os.path.join(out, "report.json")))
    peak = f"{torch.cuda.max_memory_allocated() / 2**30:.2f} GiB" if cuda else "n/a (no CUDA)"
    return {"batch": batch, "wall": wall, "calls": report.get("model_calls", {}), "pairs": report["pairs"],
            "images": report["images_in"], "peak": peak}


def table(runs: list[dict]) -> list[str]:
    stages = list(dict.fromkeys(s for r in runs for s in r["calls"]))
    head = "| stage | " + " | ".join(f"batch {r['batch']}: s/row, rows/call, calls" for r in runs) + " |"
    lines = [head, "|---|" + "---|" * len(runs)]
    for stage in stages:
        cells = []
        for r in runs:
            c = r["calls"].get(stage)
            cells.append(f"{c['seconds'] / c['rows']:.4f}, {c['rows_per_call']}, {c['calls']}" if c else "-")
        lines.append(f"| {stage} | " + " | ".join(cells) + " |")
    for r in runs:
        busy = sum(c["seconds"] for c in r["calls"].values())
        lines.append(f"batch {r['batch']}: {r['images']} images, {r['pairs']} pairs, wall {r['wall']:.1f} s, "
                     f"models busy {busy:.1f} s ({busy / r['wall']:.0%} of wall), peak accelerator memory "
                     f"{r['peak']}")
    return lines


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default=os.path.join(ROOT, "configs", "pipe_coco.yaml"))
    ap.add_argument("--images", type=int, default=64)
    ap.add_argument("--batch-sizes", default="8,1", help="comma-separated; one build each")
    ap.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--tiny", metavar="FOLDER", help="build the tests' tiny models there and run on the CPU")
    args = ap.parse_args(argv)
    sets = (tiny_sets(args.tiny, args.images) if args.tiny else []) + args.sets
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for batch in (int(b) for b in args.batch_sizes.split(",")):
            runs.append(build_once(args.config, sets, args.images, batch, os.path.join(tmp, f"b{batch}")))
    print("\n".join(table(runs)))
    print(f"driver peak RSS {peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
