"""End-to-end: configs/pipe_coco.yaml (PIPE's full order of stages) with tiny stand-ins and the CLIP filters on.

First run: thresholds that pass everything, so every pair carries every score. Second run: the same models
and seeds, with each threshold set between the first run's scores so that every filter drops the candidate
with its worst score; the funnel shows each filter as its own stage, in PIPE's order, and adds up.
"""
from __future__ import annotations

import glob
import json
import os

import numpy as np
import pyarrow.parquet as pq
import pytest
import webdataset as wds

from configs.schema import load_config
from helpers import ROOT, circle_polygon, write_coco
from pipelines.report.card_text import md
from pipelines.run import run_build
from tiny_models import session_models, tiny_overrides

PIPE_COCO = os.path.join(ROOT, "configs", "pipe_coco.yaml")
ORDER = ["filter", "clip_prefilter", "remove", "consensus", "removal_score", "importance", "blend", "describe",
         "instruct", "encode"]
SCORES = ("clip_class", "consensus_std", "removal_score", "removal_score_original", "importance_similarity")
OPEN = ["quality.min_class_similarity=-1", "quality.max_consensus=2", "quality.max_removal_score=1",
        "quality.max_importance=1", "removal.diffusion.batch_size=1"]   # batch 1: the same pixels every run


@pytest.fixture(scope="module")
def sets(tmp_path_factory) -> list[str]:
    """Four 72x96 images with two objects each (8 candidates), every PIPE model a tiny stand-in."""
    folder = str(tmp_path_factory.mktemp("coco"))
    rng = np.random.default_rng(5)
    images = {f"{i}.jpg": rng.integers(0, 255, (72, 96, 3), dtype=np.uint8) for i in range(1, 5)}
    anns = [{"id": 10 * i + j, "image_id": i, "category_id": 1 + j, "iscrowd": 0,
             "segmentation": [circle_polygon(35 + 27 * j, 36, 12 - 2 * j)]} for i in range(1, 5) for j in (0, 1)]
    annotations, image_dir = write_coco(folder, images, anns,
                                        categories=({"id": 1, "name": "apple"}, {"id": 2, "name": "cat"}))
    loose = ["filters.min_area_ratio=0", "filters.max_area_ratio=1", "filters.min_pixels=1",
             "filters.max_border_touch=1", "filters.min_component_share=0"]
    tiny = session_models(tmp_path_factory)
    return [f"source.annotations={annotations}", f"source.images={image_dir}", "source.shard_size=2",
            "image.size=64", *loose, *tiny_overrides(tiny, masks=None, quality=True), *OPEN]


def build(sets: list[str], out: str, extra=()) -> tuple[dict, list[dict], list[dict]]:
    report = run_build(load_config(PIPE_COCO, [*sets, *extra]), out, [], log=lambda *_: None)
    pairs = [json.loads(s["json"]) for s in wds.WebDataset(sorted(glob.glob(f"{out}/shards/*.tar")),
                                                           shardshuffle=False)]
    rejects = pq.read_table(sorted(glob.glob(f"{out}/rejects/*.parquet"))).to_pylist() \
        if glob.glob(f"{out}/rejects/*.parquet") else []
    assert report["lost_images"] == [] and report["images_in"] == 4
    assert report["pairs"] == len(pairs)
    assert report["pairs"] + sum(r["level"] == "candidate" for r in rejects) == report["candidates"] == 8
    stages = [row["stage"] for row in report["stages"]]
    assert [s for s in stages if s in ORDER] == ORDER
    return report, pairs, rejects


def between(values: list[float], worst: str) -> float:
    """A threshold halfway between the worst value ('low' or 'high') and the next one."""
    v = sorted(values, reverse=worst == "high")
    assert abs(v[0] - v[1]) > 1e-5, f"two candidates tie at {v[0]}: no threshold separates them"
    return (v[0] + v[1]) / 2


def test_pipe_order_with_every_filter_scoring_then_dropping(sets, tmp_path):
    _, pairs, _ = build(sets, str(tmp_path / "open"))
    assert len(pairs) == 8
    for p in pairs:
        assert set(SCORES) <= set(p["scores"])
        assert p["removal"]["chosen_by"] == "removal_score" and len(p["removal"]["clip_scores"]) == 2
        assert p["scores"]["removal_score"] == min(p["removal"]["clip_scores"])
        assert p["removal"]["chosen"] == p["removal"]["candidates"][p["removal"]["clip_scores"].index(
            p["scores"]["removal_score"])]
    by = {p["key"]: p["scores"] for p in pairs}
    keys = sorted(by)
    # each filter drops the worst of what reaches it: thresholds between scores of the survivors so far
    low = min(keys, key=lambda k: by[k]["clip_class"])
    alive = [k for k in keys if k != low]
    spread = max(alive, key=lambda k: by[k]["consensus_std"])
    alive.remove(spread)
    visible = max(alive, key=lambda k: by[k]["removal_score"])
    alive.remove(visible)
    same = max(alive, key=lambda k: by[k]["importance_similarity"])
    strict = [f"quality.min_class_similarity={between([s['clip_class'] for s in by.values()], 'low')}",
              f"quality.max_consensus={between([by[k]['consensus_std'] for k in keys if k != low], 'high')}",
              f"quality.max_removal_score={between([by[k]['removal_score'] for k in alive + [visible]], 'high')}",
              "quality.removal_margin=2",
              f"quality.max_importance={between([by[k]['importance_similarity'] for k in alive], 'high')}"]
    report, pairs, rejects = build(sets, str(tmp_path / "strict"), strict)
    dropped = {(r["key"], r["stage"], r["reason"]) for r in rejects}
    assert dropped == {(low, "clip_prefilter", "low_class_similarity"),
                       (spread, "consensus", "inconsistent_candidates"),
                       (visible, "removal_score", "object_still_visible"),
                       (same, "importance", "unimportant")}
    assert sorted(p["key"] for p in pairs) == sorted(set(alive) - {same})
    rows = {row["stage"]: row for row in report["stages"]}
    assert [rows[s]["candidates_in"] for s in ORDER[1:6]] == [8, 7, 7, 6, 5]


def test_every_model_is_named_per_stage_in_the_pairs_and_the_card(sets, tmp_path_factory, tmp_path):
    """The CLIP scorer of each quality stage and DINOv2 are named beside removal, describe and
    instructions (local paths as configured); the card lists them per stage, and its stages table shows
    each stage's own settings (diffusion settings for a diffusion remove stage, not OpenCV's)."""
    tiny = session_models(tmp_path_factory)
    stages = "[clip_prefilter, consensus, removal_score, importance, importance_dino]"
    out = str(tmp_path / "out")
    _, pairs, _ = build(sets, out, [f"quality.dino.model={tiny['dino']}", f"quality.stages={stages}",
                                    "quality.max_dino_similarity=1"])
    want = {"clip_prefilter": [tiny["clip"]], "consensus": [tiny["clip"]], "removal_score": [tiny["clip"]],
            "importance": [tiny["clip"]], "importance_dino": [tiny["dino"]], "removal": [tiny["sd"]],
            "describe": [tiny["blip"]], "instructions": [tiny["llm"]]}
    assert pairs and all(p["models"] == want for p in pairs)
    card = open(f"{out}/README.md").read()
    for stage, (path,) in want.items():
        assert f"| {md(stage)} | {md(path)} | - |" in card, stage
    remove = next(line for line in card.splitlines() if line.startswith("| remove |"))
    assert "kind=diffusion" in remove and md("diffusion.steps=2") in remove and "method" not in remove
    dino = next(line for line in card.splitlines() if line.startswith(f"| {md('importance_dino')} |"))
    assert md("max_dino_similarity=1.0") in dino and md(f"dino.model={tiny['dino']}") in dino
