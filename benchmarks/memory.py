"""Benchmark 3: peak memory for N and 10xN images (the pipeline must stream: ratio <= 1.2).

    .venv/bin/python benchmarks/memory.py [--images 300] [--workers 1]

Local runs build in waves of ``--wave-images`` images (default here: N); ``--wave-images 1000000`` runs
both builds in one wave each (workers started once), which measures what a single run holds per image. Each build runs as its own `inpaint-pairs build` process; the figure is the largest resident set of
that process and its Beam workers (ru_maxrss of the waited-for children).
"""
from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time

from common import DEMO_CONFIG, ROOT, repeated_demo


def peak_rss_of_build(n_images: int, workers: int, wave: int, tmp: str) -> tuple[float, float]:
    ann = repeated_demo(os.path.join(tmp, f"data{n_images}"), n_images)
    code = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, "
            "stdout=subprocess.DEVNULL); print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    cmd = [sys.executable, "-m", "pipelines.cli", "build", "--config", DEMO_CONFIG,
           "--output", os.path.join(tmp, f"out{n_images}"), "--set", f"source.annotations={ann}",
           "--set", "source.shard_size=50", f"--direct_num_workers={workers}", f"--wave-images={wave}"]
    start = time.perf_counter()
    r = subprocess.run([sys.executable, "-c", code, *cmd], cwd=ROOT, capture_output=True, text=True, check=True)
    return int(r.stdout.strip().splitlines()[-1]) / 1024, time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=300)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--wave-images", type=int, default=0, help="images per local pipeline run (default: N)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-mem-") as tmp:
        wave = args.wave_images or args.images
        small, t1 = peak_rss_of_build(args.images, args.workers, wave, tmp)
        large, t2 = peak_rss_of_build(10 * args.images, args.workers, wave, tmp)
    print(f"workers={args.workers}, wave of {wave} images")
    print(f"{args.images:>6} images: peak RSS {small:8.0f} MB ({t1:.0f} s)")
    print(f"{10 * args.images:>6} images: peak RSS {large:8.0f} MB ({t2:.0f} s)")
    print(f"ratio 10N/N: {large / small:.2f} (target <= 1.2)")


if __name__ == "__main__":
    main()
