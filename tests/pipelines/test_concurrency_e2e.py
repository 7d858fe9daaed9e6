"""The PIPE recipe with tiny models in every model stage, its models called in batches of 4, writes the same
bytes whatever the execution: 1 worker, 2 processes sharing the models, 2 processes not sharing, 2 threads,
a resumed build and a build in two slices. Each loaded model runs one ``predict`` at a time
(model_wrappers/base.py ``Serialized``), and each call holds a fixed chunk of one unit's requests (units of
2 images here, ``run_chunks``), so where Beam's bundles fall changes nothing."""
from __future__ import annotations

import glob
import json
import os
import shutil

import numpy as np
import pyarrow.parquet as pq
import pytest
import webdataset as wds

from configs.schema import load_config
from helpers import ROOT, circle_polygon, write_coco
from pipelines.run import run_build
from tiny_models import session_models, tiny_overrides

PIPE_COCO = os.path.join(ROOT, "configs", "pipe_coco.yaml")
LOOSE = ["filters.min_area_ratio=0", "filters.max_area_ratio=1", "filters.min_pixels=1",
         "filters.max_border_touch=1", "filters.min_component_share=0", "filters.max_objects=2"]
SHARED = ["removal.diffusion", "describe.vlm", "instructions.llm", "quality.clip"]
EXECUTIONS = {
    "1 worker": ([], False),
    "2 processes sharing": (["--direct_num_workers=2", "--direct_running_mode=multi_processing"], True),
    "2 processes": (["--direct_num_workers=2", "--direct_running_mode=multi_processing"], False),
    "2 threads": (["--direct_num_workers=2", "--direct_running_mode=multi_threading"], False),
}


@pytest.fixture(scope="module")
def sets(tmp_path_factory) -> list[str]:
    tiny = session_models(tmp_path_factory)
    folder = str(tmp_path_factory.mktemp("coco"))
    rng = np.random.default_rng(3)
    images = {f"{i}.jpg": rng.integers(0, 255, (72, 96, 3), dtype=np.uint8) for i in range(1, 6)}
    anns = [{"id": 10 * i + j, "image_id": i, "category_id": j + 1, "iscrowd": 0,
             "segmentation": [circle_polygon(35 + 27 * j, 36, 11)]} for i in range(1, 6) for j in range(2)]
    annotations, image_dir = write_coco(folder, images, anns,
                                        categories=({"id": 1, "name": "apple"}, {"id": 2, "name": "cat"}))
    models = tiny_overrides(tiny, masks=None, quality=True)
    return [f"source.annotations={annotations}", f"source.images={image_dir}", "source.shard_size=3",
            "source.unit_images=2",
            "image.size=64", *LOOSE, *models, "quality.max_consensus=1", "quality.max_removal_score=1",
            "quality.min_class_similarity=-1", "quality.max_importance=1"]


def _config(sets: list[str], share: bool = False):
    return load_config(PIPE_COCO, [*sets, *[f"{s}.share_across_processes={str(share).lower()}" for s in SHARED]])


def _build(sets: list[str], out: str, beam: list[str], share: bool) -> tuple[dict, list]:
    run_build(_config(sets, share), out, beam, log=lambda *_: None)
    return _read(out)


def _read(out: str) -> tuple[dict, list]:
    samples = {s["__key__"]: {k: v for k, v in s.items() if not k.startswith("__")}
               for s in wds.WebDataset(sorted(glob.glob(f"{out}/shards/*.tar")), shardshuffle=False)}
    rejects = sorted((r["key"], r["stage"], r["reason"])
                     for r in pq.read_table(sorted(glob.glob(f"{out}/rejects/*.parquet"))).to_pylist())
    return samples, rejects


def test_four_executions_write_the_same_bytes(sets, tmp_path):
    results = {name: _build(sets, str(tmp_path / str(i)), beam, share)
               for i, (name, (beam, share)) in enumerate(EXECUTIONS.items())}
    samples, rejects = results["1 worker"]
    assert samples and not [r for r in rejects if r[2] == "error"], rejects
    for name, (other, other_rejects) in results.items():
        assert other_rejects == rejects, name
        assert sorted(other) == sorted(samples), name
        for key, members in samples.items():
            assert other[key] == members, (name, key, [m for m in members if other[key].get(m) != members[m]])
    calls = json.load(open(tmp_path / "0" / "report.json"))["model_calls"]
    assert {"remove", "describe", "instruct"} <= set(calls)
    assert all(r["rows"] >= r["calls"] > 0 for r in calls.values())
    assert calls["describe"]["rows_per_call"] > 1   # a unit's candidates share a call


def test_a_resumed_build_and_a_build_in_two_slices_equal_a_clean_one(sets, tmp_path):
    clean = _build(sets, str(tmp_path / "clean"), [], False)
    resumed = str(tmp_path / "resumed")
    shutil.copytree(tmp_path / "clean", resumed)
    os.remove(os.path.join(resumed, "shards", "000001.stats.json"))   # as if killed before its commit
    run_build(_config(sets), resumed, [], log=lambda *_: None)
    assert _read(resumed) == clean
    sliced = str(tmp_path / "sliced")
    for i in range(2):
        run_build(_config(sets), sliced, [], log=lambda *_: None, part=(i, 2))
    assert _read(sliced) == clean
