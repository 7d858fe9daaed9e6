"""The PIPE recipe with tiny models in every model stage writes the same bytes whatever the
execution: 1 worker, 2 processes sharing the models, 2 processes not sharing, 2 threads. Each loaded model
runs one ``predict`` at a time (model_wrappers/base.py ``Serialized``), and each element runs in a call of its
own (``run_isolated``), so the recipe's batch sizes (4) do not make results depend on where batches fall."""
from __future__ import annotations

import glob
import os

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
    images = {f"{i}.jpg": rng.integers(0, 255, (72, 96, 3), dtype=np.uint8) for i in range(1, 4)}
    anns = [{"id": 10 * i + j, "image_id": i, "category_id": j + 1, "iscrowd": 0,
             "segmentation": [circle_polygon(35 + 27 * j, 36, 11)]} for i in range(1, 4) for j in range(2)]
    annotations, image_dir = write_coco(folder, images, anns,
                                        categories=({"id": 1, "name": "apple"}, {"id": 2, "name": "cat"}))
    models = tiny_overrides(tiny, masks=None, quality=True)
    return [f"source.annotations={annotations}", f"source.images={image_dir}", "source.shard_size=2",
            "image.size=64", *LOOSE, *models, "quality.max_consensus=1", "quality.max_removal_score=1",
            "quality.min_class_similarity=-1", "quality.max_importance=1"]


def _build(sets: list[str], out: str, beam: list[str], share: bool) -> tuple[dict, list]:
    cfg = load_config(PIPE_COCO, [*sets, *[f"{s}.share_across_processes={str(share).lower()}" for s in SHARED]])
    run_build(cfg, out, beam, log=lambda *_: None)
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
