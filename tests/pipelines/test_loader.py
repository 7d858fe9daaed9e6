"""The trainer loader against the real demo shards: webdataset and HF datasets paths, splits, instructions."""
from __future__ import annotations

import collections
import glob
import io
import json
import os
import random

import numpy as np
import pyarrow.parquet as pq
import pytest
import webdataset as wds
from PIL import Image

from pipelines.loader import choose_instruction, hf_pair_dataset, pair_dataset, shard_urls, to_example
from transforms.core.geometry import LOCATIONS

GRID = {cell for row in LOCATIONS for cell in row}


def _rows(out: str, shard: str = "*") -> list[dict]:
    return pq.read_table(sorted(glob.glob(f"{out}/shards/{shard}.parquet"))).to_pylist()


def _raw(out: str) -> dict[str, dict]:
    return {s["__key__"]: s for s in wds.WebDataset(shard_urls(out), shardshuffle=False)}


def test_every_pair_once_with_decoded_images_mask_and_an_add_instruction(demo_build):
    out, report = demo_build
    got = list(pair_dataset(shard_urls(out), kinds=("add",), location_p=0.0, seed=3))
    rows = _rows(out)
    assert len(got) == report["pairs"] == len(rows)
    assert sorted(g[3] for g in got) == sorted(r["instruction_add"] for r in rows)
    for source, target, mask, _ in got:
        assert source.mode == target.mode == "RGB" and source.size == target.size == mask.size
        assert mask.mode == "L" and set(np.unique(np.asarray(mask))) <= {0, 255} and np.asarray(mask).any()


def test_shuffle_changes_the_order_but_not_the_content(demo_build):
    urls = shard_urls(demo_build[0])
    ordered = [g[3] for g in pair_dataset(urls, location_p=0.0, shuffle=0)]
    shuffled = [g[3] for g in pair_dataset(urls, location_p=0.0, shuffle=100, seed=1)]
    assert sorted(ordered) == sorted(shuffled) and ordered != shuffled


def test_location_phrase_probability_and_vocabulary(demo_build):
    sample = next(iter(wds.WebDataset(shard_urls(demo_build[0]), shardshuffle=False).decode("pil")))
    meta = sample["json"]
    add, loc = meta["instructions"]["add"], meta["location"]
    assert loc in GRID
    rng = random.Random(0)
    texts = [to_example(sample, ("add",), 0.25, rng)[3] for _ in range(4000)]
    share = sum(t == f"{add} at the {loc}" for t in texts) / len(texts)
    assert set(texts) == {add, f"{add} at the {loc}"} and share == pytest.approx(0.25, abs=0.03)
    assert {to_example(sample, ("add",), 1.0)[3] for _ in range(20)} == {meta["instructions"]["add_location"]}
    assert {to_example(sample, ("add",), 0.0)[3] for _ in range(20)} == {add}


def test_choice_among_kinds_skips_missing_ones_and_remove_swaps_the_images(demo_build):
    meta = {"key": "k", "instructions": {"add": "add a cat", "vlm_llm": "", "remove": "remove the cat"},
            "location": "center"}
    rng = random.Random(1)
    kinds = collections.Counter(choose_instruction(meta, ("add", "vlm_llm", "remove"), 0.0, rng)[0]
                                for _ in range(400))
    assert set(kinds) == {"add", "remove"} and min(kinds.values()) > 150
    with pytest.raises(ValueError, match="vlm_llm"):
        choose_instruction(meta, ("vlm_llm",), 0.0, rng)
    raw = next(iter(_raw(demo_build[0]).values()))
    decoded = next(iter(wds.WebDataset(shard_urls(demo_build[0]), shardshuffle=False).decode("rgb8")))
    source, target, mask, text = to_example(decoded, ("remove",), 0.0)
    assert text == json.loads(raw["json"])["instructions"]["remove"]
    assert (source == np.asarray(Image.open(io.BytesIO(raw["target.jpg"])))).all()  # the original goes in
    assert (target == np.asarray(Image.open(io.BytesIO(raw["source.jpg"])))).all()  # object removed comes out
    assert mask.dtype == bool and mask.shape == source.shape[:2]


@pytest.mark.parametrize("rank_var, size_var", [("RANK", "WORLD_SIZE"), ("WORKER", "NUM_WORKERS")])
def test_nodes_and_workers_read_disjoint_shards_that_cover_the_run(demo_build, monkeypatch, rank_var, size_var):
    out = demo_build[0]
    urls = shard_urls(out)
    assert len(urls) == 2
    seen = []
    for rank in (0, 1):
        monkeypatch.setenv(rank_var, str(rank))
        monkeypatch.setenv(size_var, "2")
        part = sorted(g[3] for g in pair_dataset(urls, location_p=0.0, kinds=("add",), seed=0))
        assert part == sorted(r["instruction_add"] for r in _rows(out, f"{rank:06d}"))
        seen += part
    assert sorted(seen) == sorted(r["instruction_add"] for r in _rows(out))


def test_unfinished_shards_are_not_read(demo_build, copy_of):
    out = copy_of(demo_build[0])
    os.remove(f"{out}/shards/000001.stats.json")
    assert [os.path.basename(u) for u in shard_urls(out)] == ["000000.tar"]
    with pytest.raises(FileNotFoundError, match="no finished shards"):
        shard_urls(os.path.dirname(out))


def test_hf_datasets_equivalent_gives_the_same_examples(demo_build, tmp_path):
    pytest.importorskip("datasets")
    out = demo_build[0]
    ds = hf_pair_dataset(shard_urls(out), cache_dir=str(tmp_path / "hf"))
    got = [to_example(row, ("add", "vlm_llm"), 0.0, random.Random(0)) for row in ds]
    web = list(pair_dataset(shard_urls(out), location_p=0.0, shuffle=0))
    assert len(got) == len(web) == len(_rows(out))

    def signature(example):
        source, target, mask, text = example
        return text, int(np.asarray(source, np.int64).sum()), int(np.asarray(target, np.int64).sum()), \
            int((np.asarray(mask) > 0).sum())
    assert sorted(map(signature, got)) == sorted(map(signature, web))


def test_readme_training_loop_with_torch_workers_sees_every_pair_once_per_epoch(demo_build):
    torch = pytest.importorskip("torch")
    out, report = demo_build
    ds = pair_dataset(shard_urls(out), decode="torchrgb", shuffle=1000, location_p=0.0, kinds=("add",)).batched(4)
    loader = torch.utils.data.DataLoader(ds, batch_size=None, num_workers=2)  # one shard per worker
    for _ in range(2):
        texts = []
        for source, target, mask, instruction in loader:
            assert source.shape[1:] == target.shape[1:] == (3, 512, 512) and source.dtype == torch.float32
            assert mask.shape == (len(instruction), 512, 512) and mask.dtype == torch.bool and mask.any()
            texts += instruction
        assert sorted(texts) == sorted(r["instruction_add"] for r in _rows(out)) and len(texts) == report["pairs"]
