"""Benchmark: the same demo-based build into a local folder and into S3 (moto's S3-compatible server on
127.0.0.1, the test extra), inputs local; prints each time and the ratio S3 / local.

    .venv/bin/python benchmarks/object_storage.py [--images 70] [--repeat 2]

What it shows: what the object store adds per build (listing, uploads, report reads). Before the S3 clients
were shared (transforms/core/fileio.py), Beam's S3 wrapper made a botocore session per file operation.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

from common import DEMO, DEMO_CONFIG, ROOT, repeated_demo

sys.path.insert(0, os.path.join(ROOT, "tests"))
from s3 import S3Server  # noqa: E402 - tests/s3.py starts and stops moto's server

from configs.schema import load_config  # noqa: E402
from pipelines.run import run_build  # noqa: E402


def timed(cfg, out: str, args: list[str]) -> float:
    start = time.perf_counter()
    run_build(cfg, out, args, log=lambda *_: None)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=70)
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp, S3Server() as s3:
        os.environ.update(s3.env)
        cfg = load_config(DEMO_CONFIG, [f"source.annotations={repeated_demo(tmp, args.images)}",
                                        f"source.images={DEMO}/images", "source.shard_size=10"])
        timed(cfg, os.path.join(tmp, "warm"), [])          # imports and first-run costs out of the figures
        local, remote = [], []
        for i in range(args.repeat):
            local.append(timed(cfg, os.path.join(tmp, f"local{i}"), []))
            remote.append(timed(cfg, f"s3://{s3.bucket('bench')}/run{i}", s3.beam_args))
        lo, re_ = min(local), min(remote)
        print(f"{args.images} images, {args.images // 10} shards: local {lo:.1f} s, S3 {re_:.1f} s, "
              f"S3 / local {re_ / lo:.2f}x (best of {args.repeat})")


if __name__ == "__main__":
    main()
