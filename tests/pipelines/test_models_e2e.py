"""End-to-end with tiny random models at every model stage: masks -> diffusion (2 candidates) -> VLM -> LLM.

Shards are read back with webdataset and the rejects with pyarrow; every candidate ends as a pair or a
reject. Also: two worker processes, one element whose inference raises, ``check`` and the PIPE recipe.
"""
from __future__ import annotations

import glob
import io
import json
import os

import numpy as np
import pyarrow.parquet as pq
import pytest
import webdataset as wds
from PIL import Image

from configs.schema import load_config
from helpers import DEMO_CONFIG, ROOT, circle_polygon, write_coco
from pipelines import cli
from pipelines.run import run_build
from pipelines.report.card import run_models
from tiny_models import session_models, tiny_overrides
from transforms.core.geometry import dilate
from transforms.core.keys import derive_seeds

PIPE_COCO = os.path.join(ROOT, "configs", "pipe_coco.yaml")
LOOSE = ["filters.min_area_ratio=0", "filters.max_area_ratio=1", "filters.min_pixels=1",
         "filters.max_border_touch=1", "filters.min_component_share=0", "filters.max_objects=2"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> dict[str, str]:
    return session_models(tmp_path_factory)


@pytest.fixture(scope="module")
def coco(tmp_path_factory) -> list[str]:
    """Four 72x96 photos-to-be with an apple and a cat each (one cat named 'poison' in image 3)."""
    folder = str(tmp_path_factory.mktemp("coco"))
    rng = np.random.default_rng(1)
    images = {f"{i}.jpg": rng.integers(0, 255, (72, 96, 3), dtype=np.uint8) for i in range(1, 5)}
    anns = []
    for i in range(1, 5):
        anns.append({"id": 10 * i, "image_id": i, "category_id": 1, "iscrowd": 0,
                     "segmentation": [circle_polygon(35, 36, 12)]})
        anns.append({"id": 10 * i + 1, "image_id": i, "category_id": 3 if i == 3 else 2, "iscrowd": 0,
                     "segmentation": [circle_polygon(62, 36, 10)]})
    cats = ({"id": 1, "name": "apple"}, {"id": 2, "name": "cat"}, {"id": 3, "name": "poison"})
    annotations, image_dir = write_coco(folder, images, anns, categories=cats)
    return [f"source.annotations={annotations}", f"source.images={image_dir}", "source.shard_size=2",
            "image.size=64"]


def _samples(out: str) -> list[dict]:
    return list(wds.WebDataset(sorted(glob.glob(f"{out}/shards/*.tar")), shardshuffle=False))


def _rejects(out: str) -> list[dict]:
    return pq.read_table(sorted(glob.glob(f"{out}/rejects/*.parquet"))).to_pylist()


def _assert_funnel_adds_up(out: str, report: dict) -> list[dict]:
    samples, rejects = _samples(out), _rejects(out)
    candidate_rejects = [r for r in rejects if r["level"] == "candidate"]
    assert report["lost_images"] == []
    assert report["pairs"] == len(samples) > 0
    assert report["pairs"] + len(candidate_rejects) == report["candidates"]
    assert report["images_in"] == report["images_rejected"] + report["images_with_candidates"] == 4
    return samples


def _check_pair(s: dict, masks_scores: set[str]) -> None:
    meta = json.loads(s["json"])
    source = np.asarray(Image.open(io.BytesIO(s["source.jpg"])))
    mask = np.asarray(Image.open(io.BytesIO(s["mask.png"]))) > 0
    assert source.shape == (64, 64, 3) and mask.shape == (64, 64)
    assert set(meta["models"]) == {"masks", "removal", "describe", "instructions"}
    assert all(isinstance(p, str) and p for paths in meta["models"].values() for p in paths)
    named = {m["id"] for m in run_models(meta)}  # what the dataset card lists
    assert named == {p for paths in meta["models"].values() for p in paths}
    removal = meta["removal"]
    assert removal["kind"] == "diffusion" and removal["seeds"] == list(derive_seeds(meta["key"], 2))
    assert removal["chosen"] in (0, 1) and len(removal["ring_delta"]) == 2
    assert masks_scores <= set(meta["scores"]) and "removal_ring_delta" in meta["scores"]
    assert isinstance(meta["description"], str) and meta["describe"]["kind"] == "vlm"
    llm = meta["instruction_llm"]
    assert s["txt"].decode() == meta["instructions"]["vlm_llm"]
    assert (meta["instructions"]["vlm_llm"] == meta["instructions"]["add"]) or not llm["fallback"]
    target = np.asarray(Image.open(io.BytesIO(s["target.jpg"])))
    outside = ~dilate(mask, removal["dilate"] + 4)
    if outside.any():  # blend: unchanged outside the dilated mask (up to JPEG noise)
        assert np.abs(source[outside].astype(int) - target[outside]).mean() < 2


def test_sam_masks_diffusion_vlm_llm_to_shards(tiny, coco, tmp_path):
    cfg = load_config(DEMO_CONFIG, [*coco, *LOOSE, *tiny_overrides(tiny)])
    out = str(tmp_path / "out")
    report = run_build(cfg, out, [], log=lambda *_: None)
    for s in _assert_funnel_adds_up(out, report):
        _check_pair(s, {"sam_iou", "sam_stability"})
        assert json.loads(s["json"])["masks"]["kind"] == "sam"


def test_grounded_sam_and_a_chat_vlm_with_two_worker_processes(tiny, coco, tmp_path):
    cfg = load_config(DEMO_CONFIG, [*coco, *LOOSE, *tiny_overrides(tiny, vlm="llava", masks="grounded_sam"),
                                    "removal.diffusion.share_across_processes=true"])
    out = str(tmp_path / "out")
    report = run_build(cfg, out, ["--direct_num_workers=2"], log=lambda *_: None)
    for s in _assert_funnel_adds_up(out, report):
        _check_pair(s, {"box_score", "sam_iou"})
        assert json.loads(s["json"])["class"] in ("apple", "cat", "poison", "object")


@pytest.mark.parametrize("batch_size", [1, 4])
def test_an_element_whose_inference_raises_is_a_reject_and_the_rest_are_written(tiny, coco, tmp_path,
                                                                               monkeypatch, batch_size):
    """The PIPE recipe with tiny stand-ins; the VLM raises on the 'poison' object only. In a batch of more,
    the handler retries element by element; alone, it goes to RunInference's dead-letter output."""
    from model_wrappers.vlm import Describer
    real = Describer.predict

    def predict(self, requests):
        if any("poison" in r.prompt for r in requests):
            raise RuntimeError("poisoned input")
        return real(self, requests)

    monkeypatch.setattr(Describer, "predict", predict)
    cfg = load_config(PIPE_COCO, [*coco, *LOOSE, *tiny_overrides(tiny, masks=None),
                                  f"describe.vlm.batch_size={batch_size}"])
    out = str(tmp_path / "out")
    report = run_build(cfg, out, [], log=lambda *_: None)
    samples = _assert_funnel_adds_up(out, report)
    errors = [r for r in _rejects(out) if r["reason"] == "error"]
    assert [(r["key"], r["stage"]) for r in errors] == [("coco-000000000003-31", "describe")]
    assert "poisoned input" in errors[0]["detail"]
    assert len(samples) == 7 and all(s["__key__"] != "coco-000000000003-31" for s in samples)


def test_check_reports_each_model_and_fails_on_a_missing_one(tiny, coco, capsys):
    sets = [*coco, *tiny_overrides(tiny, masks=None)]
    assert cli.main(["check", "--config", PIPE_COCO, *[a for s in sets for a in ("--set", s)]]) == 0
    out = capsys.readouterr().out
    for key in ("removal.diffusion.model", "describe.vlm.model", "instructions.llm.model"):
        assert key in out
    assert out.count(" local ") == 3 and "describe -> instruct" in out
    missing = "/nowhere/llava"
    args = ["check", "--config", PIPE_COCO, "--set", f"describe.vlm.model={missing}"]
    assert cli.main(args + [a for s in sets[:4] for a in ("--set", s)]) == 2
    captured = capsys.readouterr()
    assert missing in captured.out and "save_pretrained" in captured.out and "missing" in captured.err
