"""Benchmark 1: the CPU default as a bare Python loop vs the Beam pipeline with 1 and 2 workers.

    .venv/bin/python benchmarks/cpu_default.py [--images 2000]

The loop calls the very functions the pipeline runs (stage_chain + write_shard), one image at a time.
Prints the KiB per pair of the records grouped by shard (what CoGroupByKey carries: a small
PartRef per pair, the bytes going to part files; rejects as they are), pairs/s for each
and the ratios against the loop (targets: 1 worker >= 0.85x, 2 workers >= 1.6x).
"""
from __future__ import annotations

import argparse
import pickle
import shutil
import tempfile
import time

from common import DEMO_CONFIG, repeated_demo

from configs.schema import load_config
from pipelines.chain import stage_chain
from pipelines.run import run_build
from transforms.formats.pipe import PIPE
from transforms.core.records import PartRef, Reject
from transforms.core.tarfiles import member_blocks
from transforms.core.stage import run_stage
from transforms.sources import plan_source
from transforms.stages.write import part_path, write_shard


def run_chain(rec, chain) -> tuple[list, list[Reject]]:
    """One record through the (name, fn, cfg) pure stages of ``chain`` in a plain loop, each called as the
    pipeline's DoFns call it (``run_stage``): (final records, rejects)."""
    items, rejects = [rec], []
    for name, fn, cfg in chain:
        nxt = []
        for item in items:
            for out in run_stage(fn, item, cfg, name):
                (rejects if isinstance(out, Reject) else nxt).append(out)
        items = nxt
    return items, rejects


def bare_loop(cfg, out: str) -> tuple[int, int, float]:
    """(pairs written, bytes of the pickled records the Beam build groups by shard: pairs and rejects,
    seconds spent pickling them: the caller takes them off the loop's time)."""
    import os
    os.makedirs(f"{out}/shards", exist_ok=True)
    os.makedirs(f"{out}/rejects", exist_ok=True)
    chain, pairs, shuffled, pickling = stage_chain(cfg), 0, 0, 0.0
    for k, entries in enumerate(plan_source(cfg.source)):
        shard_pairs, shard_rejects = [], []
        for entry in entries:
            done, rejects = run_chain(entry.to_record(k), chain)
            shard_pairs += done
            shard_rejects += rejects
            start = time.perf_counter()
            grouped = [PartRef(s.key, s.shard, s.image_key, s.row, s.masks, part_path(out, k, s.key),
                               len(member_blocks(s.key, s.members))) for s in done]
            shuffled += sum(len(pickle.dumps(r, protocol=pickle.HIGHEST_PROTOCOL)) for r in grouped + rejects)
            pickling += time.perf_counter() - start
        pairs += write_shard(out, k, [e.key for e in entries], shard_pairs, shard_rejects, PIPE.schema)["pairs"]
    return pairs, shuffled, pickling


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=2000)
    ap.add_argument("--shard-size", type=int, default=50)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="bench-cpu-")
    try:
        ann = repeated_demo(tmp, args.images)
        cfg = load_config(DEMO_CONFIG, [f"source.annotations={ann}", f"source.shard_size={args.shard_size}"])
        results = {}
        start = time.perf_counter()
        pairs, shuffled, pickling = bare_loop(cfg, f"{tmp}/loop")
        results["bare loop"] = (pairs, time.perf_counter() - start - pickling)
        for workers in (1, 2):
            start = time.perf_counter()
            report = run_build(cfg, f"{tmp}/beam{workers}", [f"--direct_num_workers={workers}"],
                               log=lambda *_: None)
            results[f"beam, {workers} worker(s)"] = (report["pairs"], time.perf_counter() - start)
        base = results["bare loop"][0] / results["bare loop"][1]
        print(f"{args.images} images, shard size {args.shard_size}; records grouped by shard: "
              f"{shuffled / max(pairs, 1) / 1024:.1f} KiB per pair (pickled PartRefs and rejects)")
        print(f"{'run':<20} {'pairs':>6} {'seconds':>8} {'pairs/s':>8} {'vs loop':>8}")
        for name, (n, secs) in results.items():
            print(f"{name:<20} {n:>6} {secs:>8.1f} {n / secs:>8.1f} {n / secs / base:>7.2f}x")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
