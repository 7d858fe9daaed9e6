"""Planning at growing sizes: what the driver pays before any worker starts, and what a rerun pays.

Writes synthetic inputs of the real schemas (nothing downloaded): a COCO instances json (7.3 polygon
annotations an image, 12-40 vertices each with two decimals, as train2017 has) and a LAION-style parquet
URL table (url, caption, width, height, licence), at three sizes each. For each it times, each in its own
process: a bare read of the input (``json.load``; ``pyarrow.parquet.read_table``), a build's planning (a
build whose slice holds no shard: it plans and writes OUT/plan, then stops), and the same build again with
the inputs unchanged (the rerun that decides what is done). Prints wall seconds, peak RSS, plan bytes, the
ratios to the bare read and the fitted growth exponent of planning time (time ~ size^k).

    python benchmarks/planning.py [--sizes 5000,10000,20000] [--rows 50000,100000,200000]
"""
from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

CHILD = r"""
import json, os, resource, sys, time
sys.path.insert(0, {root!r})
what, path, out = sys.argv[1:4]
import pyarrow.parquet as pq
if what == "plan":   # imported before the clock starts, as the bare reads' json and pyarrow are
    from configs.schema import load_config
    from pipelines.run import run_build
t = time.perf_counter()
if what == "json":
    json.load(open(path))
elif what == "parquet":
    pq.read_table(path)
else:
    kind = "coco" if path.endswith(".json") else "url_table"
    sets = [f"source.kind={{kind}}", f"source.annotations={{path}}", "source.name=bench",
            "source.shard_size=1000", "masks.kind=brush"]
    if kind == "coco":
        sets.append(f"source.images={{os.path.dirname(path)}}")
    else:
        sets.append("source.allow_local_files=true")
    cfg = load_config(os.path.join({root!r}, "configs", "demo.yaml"), sets)
    shards = -(-int(sys.argv[4]) // 1000)
    run_build(cfg, out, [], log=lambda *_: None, part=(shards, shards + 1))   # a slice that holds no shard
print(json.dumps({{"s": time.perf_counter() - t,
                  "rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}}))
"""


def coco_json(folder: str, n_images: int, seed: int = 0) -> str:
    rng = np.random.default_rng(seed)
    images, anns = [], []
    for i in range(1, n_images + 1):
        images.append({"id": i, "file_name": f"{i:012d}.jpg", "width": 640, "height": 480, "license": 1,
                       "coco_url": f"http://images.cocodataset.org/train2017/{i:012d}.jpg"})
        for _ in range(rng.poisson(7.3)):
            k = int(rng.integers(12, 41))
            t = np.sort(rng.uniform(0, 2 * np.pi, k))
            cx, cy, r = rng.uniform(50, 590), rng.uniform(50, 430), rng.uniform(5, 50)
            poly = np.round(np.stack([cx + r * np.cos(t), cy + r * np.sin(t)], 1).ravel(), 2).tolist()
            anns.append({"id": len(anns) + 1, "image_id": i, "category_id": int(rng.integers(1, 81)),
                         "segmentation": [poly], "area": float(np.pi * r * r), "iscrowd": 0,
                         "bbox": [cx - r, cy - r, 2 * r, 2 * r]})
    path = os.path.join(folder, "instances.json")
    cats = [{"id": c, "name": f"class{c}", "supercategory": "thing"} for c in range(1, 81)]
    with open(path, "w") as f:
        json.dump({"images": images, "annotations": anns, "categories": cats,
                   "licenses": [{"id": 1, "name": "CC BY 4.0", "url": "https://creativecommons.org/licenses/by/4.0/"}]}, f)
    return path


def url_table(folder: str, rows: int) -> str:
    import pyarrow as pa
    import pyarrow.parquet as pq
    path = os.path.join(folder, "part-00000.parquet")
    pq.write_table(pa.table({
        "url": [f"https://example.org/images/{i:09d}.jpg" for i in range(rows)],
        "caption": [f"a photo of a red car parked next to a tree, number {i}" for i in range(rows)],
        "width": [640] * rows, "height": [480] * rows, "license": ["CC BY 4.0"] * rows}), path)
    return path


def child(what: str, path: str, out: str, n: int) -> dict:
    result = subprocess.run([sys.executable, "-c", CHILD.format(root=ROOT), what, path, out, str(n)],
                            capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def folder_bytes(folder: str) -> int:
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(folder) for f in fs)


def measure(kind: str, sizes: list[int]) -> None:
    print(f"\n{kind}: size | input MB | bare read s | plan s (x read) | plan peak RSS GB | plan MB | "
          f"rerun s (x read) | rerun RSS GB")
    times = []
    for n in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            path = coco_json(tmp, n) if kind == "coco" else url_table(tmp, n)
            bare = child("json" if kind == "coco" else "parquet", path, "", n)
            out = os.path.join(tmp, "out")
            plan = child("plan", path, out, n)
            again = child("plan", path, out, n)
            times.append(plan["s"])
            print(f"{kind}: {n} | {os.path.getsize(path) / 1e6:.1f} | {bare['s']:.2f} | {plan['s']:.2f} "
                  f"({plan['s'] / bare['s']:.1f}x) | {plan['rss_gb']:.2f} | {folder_bytes(os.path.join(out, 'plan')) / 1e6:.1f}"
                  f" | {again['s']:.2f} ({again['s'] / bare['s']:.2f}x) | {again['rss_gb']:.2f}")
    k = np.polyfit([math.log(n) for n in sizes], [math.log(t) for t in times], 1)[0]
    print(f"{kind}: planning time grows as size^{k:.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="5000,10000,20000", help="COCO images")
    ap.add_argument("--rows", default="50000,100000,200000", help="URL table rows")
    args = ap.parse_args()
    started = time.time()
    measure("coco", [int(v) for v in args.sizes.split(",")])
    measure("url_table", [int(v) for v in args.rows.split(",")])
    print(f"\n({time.time() - started:.0f} s in all)")


if __name__ == "__main__":
    main()
