"""One worker keeps ``image.fetch.concurrency`` URLs in flight, and the shards it writes are the
same bytes as a build that fetches one URL at a time (order and content do not depend on which request
finished first); every reject reason survives."""
from __future__ import annotations

import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from configs.schema import load_config
from helpers import ROOT
from pipelines import outputs
from pipelines.run import run_build

BRUSHDATA = os.path.join(ROOT, "configs", "brushdata_laion.yaml")
FAST = ["image.fetch.read_timeout=0.5", "image.fetch.total_timeout=3", "image.fetch.retries=1",
        "image.fetch.backoff=0.05",
        "image.fetch.allow_private_addresses=true"]   # the test server is on loopback
BRUSH = ["masks.kind=brush", "filters.max_area_ratio=1", "filters.min_component_share=0",
         "filters.max_border_touch=1", "image.size=64", "image.min_side=16", "source.shard_size=10"]
FAILING = {"/missing.jpg": "http_404", "/down.jpg": "http_503", "/page.html": "not_an_image",
           "/loop": "too_many_redirects"}


def url_table(folder: str, web, n_held: int) -> str:
    """``n_held`` URLs that each answer after tests/web.HOLD s (the server counts how many are open at
    once), with failing URLs in between."""
    urls = [web.url(f"/held.jpg?concurrent-{i}") for i in range(n_held)]
    for i, path in enumerate(FAILING):
        urls.insert(3 * i + 1, web.url(f"{path}?concurrent"))
    path = os.path.join(folder, "urls.parquet")
    pq.write_table(pa.table({"url": urls, "caption": [f"a cat {i}" for i in range(len(urls))]}), path)
    return path


def build(tmp_path, web, run: str, concurrency: int) -> tuple[str, dict]:
    table = url_table(str(tmp_path / "in"), web, 16)
    cfg = load_config(BRUSHDATA, [f"source.annotations={table}", *BRUSH, *FAST,
                                  f"image.fetch.concurrency={concurrency}"])
    out = str(tmp_path / run)
    with web.state.lock:
        web.state.active = web.state.max_active = 0
    report = run_build(cfg, out, ["--direct_num_workers=1"], log=lambda *_: None)
    return out, report


def shard_bytes(out: str) -> dict[str, bytes]:
    folder = os.path.join(out, "shards")
    got = {}
    for name in sorted(os.listdir(folder)):
        if name.endswith((".tar", ".parquet")):
            with open(os.path.join(folder, name), "rb") as f:
                got[name] = f.read()
    return got


@pytest.fixture
def held(web):
    """The shared server's count of requests open at once, zeroed before and after (other tests read it)."""
    def reset():
        with web.state.lock:
            web.state.active = web.state.max_active = 0
    reset()
    yield web
    reset()


def test_one_worker_fetches_many_urls_at_once_and_writes_the_same_bytes(tmp_path, held):
    web = held
    os.makedirs(tmp_path / "in")
    seq_out, seq = build(tmp_path, web, "seq", 1)
    assert web.state.max_active == 1
    con_out, con = build(tmp_path, web, "con", 8)
    assert web.state.max_active > 2, web.state.max_active     # many requests in flight in one worker
    assert web.state.max_active <= 8                          # and never more than the bound
    assert con["pairs"] == seq["pairs"] == 16 and con["images_in"] == 16 + len(FAILING)
    assert con["lost_images"] == [] and con["images_rejected"] == len(FAILING)
    assert shard_bytes(con_out) == shard_bytes(seq_out)       # tars and sidecars, byte for byte
    assert len(outputs.read_pairs_table(con_out, 0)) == 7     # shard 0: 10 rows, 3 failing URLs among them
    reasons = sorted(r["reason"] for s in outputs.finished_shards(con_out)
                     for r in outputs.read_rejects_table(con_out, s).to_pylist() if r["level"] == "image")
    assert reasons == sorted(FAILING.values())
