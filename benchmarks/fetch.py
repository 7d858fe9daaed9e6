"""Benchmark: a URL table on a loopback server that answers each request after ``--latency`` s (a stand-in
for the web's round trips), built by our BrushData recipe (brush masks, no model) and by img2dataset
(download + resize + write, installed by this script into a venv of its own), at the same process count.

    .venv/bin/python benchmarks/fetch.py [--urls 400] [--latency 0.2] [--processes 2] [--i2d-venv /tmp/i2d]

Prints images/s of each and the ratio (target: ours >= 1.0x img2dataset's at 200 ms, 400+ URLs, 2 each).
"""
from __future__ import annotations

import argparse
import glob
import http.server
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time

import pyarrow as pa
import pyarrow.parquet as pq
from common import DEMO, ROOT

from configs.schema import load_config
from pipelines.run import run_build

I2D_VERSION = "1.47.0"
BRUSH = ["masks.kind=brush", "filters.max_area_ratio=1", "filters.min_component_share=0",
         "filters.max_border_touch=1"]


def serve(latency: float) -> tuple[http.server.ThreadingHTTPServer, str]:
    """A threaded loopback server: /img/<i>.jpg is demo photo i (mod their count), sent after ``latency`` s."""
    photos = [open(p, "rb").read() for p in sorted(glob.glob(os.path.join(DEMO, "images", "*.jpg")))]

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_GET(self):  # noqa: N802 - http.server's name
            time.sleep(latency)
            body = photos[int(self.path.rsplit("/", 1)[-1].split(".")[0]) % len(photos)]
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    httpd.request_queue_size = 1024
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, f"http://127.0.0.1:{httpd.server_port}"


def img2dataset_bin(venv: str) -> str:
    """``venv``/bin/img2dataset, installing img2dataset==I2D_VERSION into a new venv there if missing."""
    exe = os.path.join(venv, "bin", "img2dataset")
    if not os.path.exists(exe):
        subprocess.run(["python3", "-m", "venv", venv], check=True)
        subprocess.run([os.path.join(venv, "bin", "pip"), "install", "-q", f"img2dataset=={I2D_VERSION}"], check=True)
    return exe


def run_ours(table: str, out: str, processes: int) -> int:
    cfg = load_config(os.path.join(ROOT, "configs", "brushdata_laion.yaml"),
                      [f"source.annotations={table}", "source.shard_size=100", *BRUSH])
    return run_build(cfg, out, [f"--direct_num_workers={processes}"], log=lambda *_: None)["pairs"]


def run_img2dataset(exe: str, table: str, out: str, processes: int, threads: int) -> int:
    subprocess.run([exe, "--url_list", table, "--input_format", "parquet", "--url_col", "url",
                    "--caption_col", "caption", "--output_format", "webdataset", "--output_folder", out,
                    "--processes_count", str(processes), "--thread_count", str(threads), "--image_size", "512",
                    "--resize_mode", "keep_ratio", "--number_sample_per_shard", "100", "--enable_wandb", "False"],
                   check=True, capture_output=True)
    return sum(json.load(open(p))["successes"] for p in glob.glob(os.path.join(out, "*_stats.json")))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--urls", type=int, default=400)
    ap.add_argument("--latency", type=float, default=0.2)
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--threads", type=int, default=32, help="img2dataset's --thread_count")
    ap.add_argument("--i2d-venv", default="/tmp/i2d")
    args = ap.parse_args()
    exe = img2dataset_bin(args.i2d_venv)
    httpd, base = serve(args.latency)
    tmp = tempfile.mkdtemp(prefix="bench-fetch-")
    try:
        table = os.path.join(tmp, "urls.parquet")
        pq.write_table(pa.table({"url": [f"{base}/img/{i}.jpg" for i in range(args.urls)],
                                 "caption": [f"photo {i}" for i in range(args.urls)]}), table)
        results = {}
        for name, run in [("img2dataset", lambda: run_img2dataset(exe, table, f"{tmp}/i2d", args.processes,
                                                                  args.threads)),
                          ("ours (brushdata, brush)", lambda: run_ours(table, f"{tmp}/ours", args.processes))]:
            start = time.perf_counter()
            results[name] = (run(), time.perf_counter() - start)
        print(f"{args.urls} URLs, {args.latency * 1000:.0f} ms each, {args.processes} processes")
        print(f"{'run':<26} {'images':>6} {'seconds':>8} {'images/s':>9}")
        for name, (n, secs) in results.items():
            print(f"{name:<26} {n:>6} {secs:>8.1f} {n / secs:>9.1f}")
        (a, ta), (b, tb) = results["ours (brushdata, brush)"], results["img2dataset"]
        print(f"ours / img2dataset: {(a / ta) / (b / tb):.2f}x")
    finally:
        httpd.shutdown()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
