"""Shards from part files: the bytes a sample's stage wrote to storage come back, concatenated in key order,
as the very tar (and sidecar, stats) written from in-memory Samples; only small PartRefs cross the shuffle;
parts are removed once their shard commits, and a rerun removes those a killed run left."""
from __future__ import annotations

import dataclasses
import glob
import os
import pickle
import tarfile

import numpy as np
import pyarrow as pa
import pytest

from pipelines.run import clear_stale_tmp
from transforms.core.records import PartRef, Sample
from transforms.stages.write import paths, write_part, write_shard

SCHEMA = pa.schema([("key", pa.string()), ("caption", pa.string())])


def samples(shard: int, n: int) -> list[Sample]:
    """n samples of ~250 KB (random, so incompressible), keys out of order; one key long enough for PAX."""
    rng = np.random.default_rng(shard)
    out = []
    for i in reversed(range(n)):
        key = f"coco-{shard:03d}-{i}" + ("-" + "x" * 120 if i == 1 else "")
        members = {"source.jpg": rng.bytes(120_000 + i), "target.jpg": rng.bytes(110_000), "mask.png": rng.bytes(9_000),
                   "json": b'{"a": 1}'}
        out.append(Sample(key, shard, f"coco-{shard:03d}-{i // 2}", members, {"key": key, "caption": "a cat"}, 1))
    return out


def shard_files(out: str, shard: int) -> dict[str, bytes]:
    return {name: open(path, "rb").read() for name, path in paths(out, shard).items()}


def test_a_shard_from_parts_is_the_shard_from_samples_and_its_parts_are_gone(tmp_path):
    ref, out = str(tmp_path / "ref"), str(tmp_path / "out")
    batch = samples(3, 5)
    keys = sorted({s.image_key for s in batch})
    ref_stats = write_shard(ref, 3, keys, batch, [], SCHEMA)
    refs = [write_part(out, s) for s in batch]
    assert len(glob.glob(f"{out}/shards/.tmp-*-000003.part")) == 5
    stats = write_shard(out, 3, keys, refs, [], SCHEMA)
    assert stats == ref_stats and stats["pairs"] == 5 and stats["lost_images"] == []
    assert shard_files(out, 3) == shard_files(ref, 3)
    with tarfile.open(paths(out, 3)["tar"]) as tar:
        names = tar.getnames()
        assert len(names) == 20 and tar.extractfile(names[0]).read() == batch[-1].members[names[0].split(".", 1)[1]]
    assert sorted(os.listdir(f"{out}/shards")) == ["000003.parquet", "000003.stats.json", "000003.tar"]


def test_what_crosses_the_shuffle_is_small_and_holds_no_member_bytes(tmp_path):
    for s in samples(0, 3):
        r = write_part(str(tmp_path), s)
        assert isinstance(r, PartRef) and not any(isinstance(v, (bytes, bytearray))
                                                  for v in dataclasses.astuple(r))
        assert len(pickle.dumps(r)) < 4096 < len(pickle.dumps(s)) // 50
        assert os.path.getsize(r.part) == r.size > sum(len(m) for m in s.members.values())


def test_a_changed_part_stops_the_shard_before_its_commit(tmp_path):
    out = str(tmp_path)
    refs = [write_part(out, s) for s in samples(1, 2)]
    with open(refs[1].part, "ab") as f:
        f.write(b"junk")
    with pytest.raises(RuntimeError, match=r"part file .*000001\.part of sample .* holds .* rerun the build"):
        write_shard(out, 1, ["coco-001-0"], refs, [], SCHEMA)
    assert not os.path.exists(paths(out, 1)["stats"]) and not os.path.exists(paths(out, 1)["tar"])


def test_a_rerun_clears_the_parts_a_killed_run_left_for_its_own_shards_only(tmp_path):
    out = str(tmp_path)
    for shard in (0, 1, 2):
        for s in samples(shard, 2):
            write_part(out, s)
    open(f"{out}/shards/notes.part", "wb").close()           # not ours: kept
    clear_stale_tmp(out, [0, 2])                              # this slice's shards (done or not)
    assert sorted(os.listdir(f"{out}/shards")) == sorted(
        [os.path.basename(p) for p in glob.glob(f"{out}/shards/.tmp-*-000001.part")] + ["notes.part"])
    assert len(glob.glob(f"{out}/shards/.tmp-*-000001.part")) == 2
