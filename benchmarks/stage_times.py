"""Benchmark 4: where the CPU default spends its time, per stage, per image.

    .venv/bin/python benchmarks/stage_times.py [--images 300]

Runs the pipeline's own stage functions in a loop with a timer around each (decode+resize = load,
mask decode = propose, filters, removal, blend, instructions, encode) and around the shard writer.
"""
from __future__ import annotations

import argparse
import collections
import tempfile
import time

from common import DEMO_CONFIG, repeated_demo

from configs.schema import load_config
from pipelines.chain import stage_chain
from transforms.core.records import Reject
from transforms.formats.pipe import PIPE
from transforms.sources import plan_source
from transforms.stages.write import write_shard


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=300)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="bench-stages-")
    cfg = load_config(DEMO_CONFIG, [f"source.annotations={repeated_demo(tmp, args.images)}",
                                    "source.shard_size=50"])
    import os
    for sub in ("shards", "rejects"):
        os.makedirs(f"{tmp}/out/{sub}", exist_ok=True)
    spent, calls = collections.Counter(), collections.Counter()
    pairs = 0
    for k, entries in enumerate(plan_source(cfg.source)):
        done, rejects = [], []
        for entry in entries:
            items = [entry.to_record(k)]
            for name, fn, section in stage_chain(cfg):
                nxt = []
                for item in items:
                    t = time.perf_counter()
                    out = fn(item, section)
                    spent[name] += time.perf_counter() - t
                    calls[name] += 1
                    for o in out if isinstance(out, list) else [out]:
                        (rejects if isinstance(o, Reject) else nxt).append(o)
                items = nxt
            done += items
        t = time.perf_counter()
        pairs += write_shard(f"{tmp}/out", k, [e.key for e in entries], done, rejects, PIPE.schema)["pairs"]
        spent["write"] += time.perf_counter() - t
        calls["write"] += 1
    total = sum(spent.values())
    print(f"{args.images} images -> {pairs} pairs in {total:.1f} s ({pairs / total:.1f} pairs/s, "
          f"{1000 * total / args.images:.1f} ms/image)")
    print(f"{'stage':<10} {'calls':>6} {'ms/call':>8} {'ms/image':>9} {'share':>6}")
    for name, secs in spent.items():
        print(f"{name:<10} {calls[name]:>6} {1000 * secs / calls[name]:>8.2f} "
              f"{1000 * secs / args.images:>9.2f} {secs / total:>6.1%}")


if __name__ == "__main__":
    main()
