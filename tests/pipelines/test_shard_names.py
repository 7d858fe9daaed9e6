"""Shard files past six digits: LAION-5B at 1,000 images a shard has 2.3M shards, so shard 1,000,000 exists
and must read back as itself (a name parsed by its first six characters read it as 100,000)."""
from __future__ import annotations

import os

from pipelines.loader import shard_urls
from pipelines.outputs import finished_shards
from pipelines.plan import planned_shards
from transforms.core.keys import shard_id, shard_ids, shard_name


def test_names_and_numbers_round_trip_past_six_digits():
    for k in (0, 42, 999_999, 1_000_000, 2_300_017):
        assert shard_id(shard_name(k) + ".stats.json") == k and shard_id(shard_name(k) + ".tar") == k
    assert shard_name(7) == "000007" and shard_name(1_000_000) == "1000000"
    assert [shard_id(n) for n in ("notes.txt", "README.md", ".tmp-ab-000001.tar", "٣.tar")] == [None] * 4
    assert shard_ids(["1000000.tar", "999999.tar", "000002.tar", "x.tar", "000002.parquet"]) == [2, 999_999,
                                                                                                 1_000_000]


def test_finished_planned_and_loaded_shards_past_six_digits(tmp_path):
    out = str(tmp_path)
    os.makedirs(f"{out}/shards"), os.makedirs(f"{out}/plan")
    ids = [3, 999_999, 1_000_000, 1_000_001]
    for k in ids:
        for name in (f"shards/{shard_name(k)}.stats.json", f"shards/{shard_name(k)}.tar",
                     f"plan/{shard_name(k)}.json"):
            open(os.path.join(out, name), "w").write("{}")
    assert finished_shards(out) == planned_shards(out) == ids
    assert [os.path.basename(u) for u in shard_urls(out)] == ["000003.tar", "999999.tar", "1000000.tar",
                                                               "1000001.tar"]
