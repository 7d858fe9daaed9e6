"""Planning at growing sizes: what the driver pays before any worker starts, and what a rerun pays.

Writes synthetic inputs of the real schemas (nothing downloaded), at three sizes each:
- ``coco``: a COCO instances json as train2017 has it (compact, 7.3 polygon annotations an image, 12-40
  vertices each with two decimals);
- ``lvis``: an LVIS v1 json (no file_name, the image named by coco_url; 12.7 annotations an image, 1,203
  classes);
- ``url_table``: a LAION-style parquet URL table (url, caption, width, height, licence);
- ``openimages``: Open Images V7's segmentation CSV (2.9 masks an image; the mask PNGs are not written: the
  plan names them, only the worker that masks an image reads its PNGs) and its class list.
For each it times, each in its own process: a bare read of the input (``json.load``;
``pyarrow.parquet.read_table``; ``pyarrow.csv.read_csv``), a build's planning (a build whose slice holds no
shard: it plans and writes OUT/plan, then stops), and the same build again with the inputs unchanged (the
rerun that decides what is done). Prints wall seconds, peak RSS, plan bytes, the ratios to the bare read
and the fitted growth exponent of planning time (time ~ size^k). ``--root`` plans with another checkout's
code (the same inputs and bare reads): a before/after comparison in one run.

    python benchmarks/planning.py [--kinds coco,lvis,url_table,openimages] [--coco 10000,20000,40000] ...
        [--root /path/to/other/checkout]
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


def peak_rss_gb():   # this process's own peak: VmHWM starts afresh at exec, while getrusage's ru_maxrss
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 2**20   # carries the benchmark's size at the fork (its inputs)
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20



import pyarrow.parquet as pq
if what == "plan":   # imported before the clock starts, as the bare reads' json and pyarrow are
    from configs.schema import load_config
    from pipelines.run import run_build
t = time.perf_counter()
if what == "json":
    json.load(open(path))
elif what == "parquet":
    pq.read_table(path)
elif what == "csv":
    import pyarrow.csv as pacsv
    pacsv.read_csv(path)
else:
    folder = os.path.dirname(path)
    kind = {{"instances.json": "coco", "lvis.json": "lvis", "segmentation.csv": "openimages"}}.get(
        os.path.basename(path), "url_table")
    sets = [f"source.kind={{kind}}", f"source.annotations={{path}}", "source.name=bench",
            "source.shard_size=1000", "masks.kind=brush"]
    if kind in ("coco", "lvis", "openimages"):
        sets.append(f"source.images={{folder}}")
    if kind == "openimages":
        sets += [f"source.masks={{folder}}", f"source.classes={{folder}}/classes.csv"]
    if kind == "url_table":
        sets.append("source.allow_local_files=true")
    cfg = load_config(os.path.join({root!r}, "configs", "demo.yaml"), sets)
    shards = -(-int(sys.argv[4]) // 1000)
    run_build(cfg, out, [], log=lambda *_: None, part=(shards, shards + 1))   # a slice that holds no shard
print(json.dumps({{"s": time.perf_counter() - t,
                  "rss_gb": peak_rss_gb()}}))
"""


def coco_json(folder: str, n_images: int, seed: int = 0, lvis: bool = False) -> str:
    """COCO's instances json (``lvis``: LVIS v1's: images named by coco_url only, more objects, 1,203 classes),
    written compact as both datasets ship it."""
    rng = np.random.default_rng(seed)
    images, anns = [], []
    per_image, n_classes = (12.7, 1203) if lvis else (7.3, 80)
    for i in range(1, n_images + 1):
        image = {"id": i, "width": 640, "height": 480, "license": 1,
                 "coco_url": f"http://images.cocodataset.org/train2017/{i:012d}.jpg"}
        images.append(image if lvis else {**image, "file_name": f"{i:012d}.jpg"})
        for _ in range(rng.poisson(per_image)):
            k = int(rng.integers(12, 41))
            t = np.sort(rng.uniform(0, 2 * np.pi, k))
            cx, cy, r = rng.uniform(50, 590), rng.uniform(50, 430), rng.uniform(5, 50)
            poly = np.round(np.stack([cx + r * np.cos(t), cy + r * np.sin(t)], 1).ravel(), 2).tolist()
            anns.append({"id": len(anns) + 1, "image_id": i, "category_id": int(rng.integers(1, n_classes + 1)),
                         "segmentation": [poly], "area": float(np.pi * r * r), "iscrowd": 0,
                         "bbox": [cx - r, cy - r, 2 * r, 2 * r]})
    path = os.path.join(folder, "lvis.json" if lvis else "instances.json")
    cats = [{"id": c, "name": f"class{c}", "supercategory": "thing"} for c in range(1, n_classes + 1)]
    with open(path, "w") as f:
        json.dump({"images": images, "annotations": anns, "categories": cats,
                   "licenses": [{"id": 1, "name": "CC BY 4.0", "url": "https://creativecommons.org/licenses/by/4.0/"}]},
                  f, separators=(",", ":"))
    return path


def openimages_csv(folder: str, n_masks: int, seed: int = 0) -> str:
    """Open Images V7's segmentation CSV (2.9 masks an image, 350 classes) and its class descriptions."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    rng = np.random.default_rng(seed)
    image = np.sort(rng.integers(0, max(1, int(n_masks / 2.9)), n_masks))
    ids = [f"{v * 2654435761 % (1 << 64):016x}" for v in image.tolist()]   # 16 hex digits, as V7 ids
    labels = [f"/m/0{v:05d}" for v in rng.integers(0, 350, n_masks)]
    box = [f"{v:08x}" for v in rng.integers(0, 1 << 32, n_masks)]
    lo, hi = rng.uniform(0, 0.5, (4, n_masks)), rng.uniform(0.5, 1, (4, n_masks))
    pacsv.write_csv(pa.table({
        "MaskPath": [f"{i}_{lab.strip('/').replace('/', '_')}_{b}.png" for i, lab, b in zip(ids, labels, box)],
        "ImageID": ids, "LabelName": labels, "BoxID": box, "BoxXMin": lo[0], "BoxXMax": hi[0], "BoxYMin": lo[1],
        "BoxYMax": hi[1], "PredictedIoU": rng.uniform(0.5, 1, n_masks), "Clicks": [""] * n_masks}),
        os.path.join(folder, "segmentation.csv"))
    with open(os.path.join(folder, "classes.csv"), "w") as f:
        f.write("LabelName,DisplayName\n" + "".join(f"/m/0{c:05d},Class {c}\n" for c in range(350)))
    return os.path.join(folder, "segmentation.csv")


def url_table(folder: str, rows: int) -> str:
    import pyarrow as pa
    import pyarrow.parquet as pq
    path = os.path.join(folder, "part-00000.parquet")
    pq.write_table(pa.table({
        "url": [f"https://example.org/images/{i:09d}.jpg" for i in range(rows)],
        "caption": [f"a photo of a red car parked next to a tree, number {i}" for i in range(rows)],
        "width": [640] * rows, "height": [480] * rows, "license": ["CC BY 4.0"] * rows}), path)
    return path


def child(what: str, path: str, out: str, n: int, root: str = ROOT) -> dict:
    result = subprocess.run([sys.executable, "-c", CHILD.format(root=root), what, path, out, str(n)],
                            capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def folder_bytes(folder: str) -> int:
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(folder) for f in fs)


INPUTS = {"coco": (coco_json, "json"), "lvis": (lambda folder, n: coco_json(folder, n, lvis=True), "json"),
          "url_table": (url_table, "parquet"), "openimages": (openimages_csv, "csv")}
DEFAULT_SIZES = {"coco": "10000,20000,40000", "lvis": "10000,20000,40000", "url_table": "100000,200000,400000",
                 "openimages": "200000,400000,800000"}


def measure(kind: str, sizes: list[int], root: str) -> None:
    print(f"\n{kind}: size | input MB | bare read s | plan s (x read) | plan peak RSS GB | plan MB | "
          f"rerun s (x read) | rerun RSS GB")
    write, bare_read = INPUTS[kind]
    times = []
    for n in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            path = write(tmp, n)
            bare = child(bare_read, path, "", n)
            out = os.path.join(tmp, "out")
            plan = child("plan", path, out, n, root)
            again = child("plan", path, out, n, root)
            times.append(plan["s"])
            plan_mb = folder_bytes(os.path.join(out, "plan")) / 1e6
            print(f"{kind}: {n} | {os.path.getsize(path) / 1e6:.1f} | {bare['s']:.2f} | {plan['s']:.2f} "
                  f"({plan['s'] / bare['s']:.1f}x) | {plan['rss_gb']:.2f} | {plan_mb:.1f}"
                  f" | {again['s']:.2f} ({again['s'] / bare['s']:.2f}x) | {again['rss_gb']:.2f}", flush=True)
    k = np.polyfit([math.log(n) for n in sizes], [math.log(t) for t in times], 1)[0]
    print(f"{kind}: planning time grows as size^{k:.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kinds", default=",".join(INPUTS), help="which inputs, of " + ", ".join(INPUTS))
    for kind, sizes in DEFAULT_SIZES.items():
        ap.add_argument(f"--{kind.replace('_', '-')}", default=sizes, help=f"{kind} sizes (default {sizes})")
    ap.add_argument("--root", default=ROOT, help="plan with the code of this checkout (default: this one)")
    args = ap.parse_args()
    started = time.time()
    print(f"planning with the code in {os.path.abspath(args.root)}")
    for kind in args.kinds.split(","):
        measure(kind, [int(v) for v in getattr(args, kind).split(",")], os.path.abspath(args.root))
    print(f"\n({time.time() - started:.0f} s in all)")


if __name__ == "__main__":
    main()
