"""Contracts: one test over every registered source, masker, remover and output format.

Each registry entry runs through the code a build runs (model maskers and removers load a tiny random
model from disk through the model registry); each test states what every variant of its role must give.
A variant registered without an input here fails ``test_every_variant_is_covered``: adding a masker,
remover, source or format means adding its line below.
"""
from __future__ import annotations

import glob
import io
import json
import os
import tarfile

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import webdataset as wds
import yaml
from PIL import Image

from configs.schema import load_config
from helpers import DEMO_CONFIG, DEMO_DATA, write_openimages
from pipelines.chain import stage_chain
from pipelines.plan import plan_text
from pipelines.run import run_build
from transforms.core.records import Candidate, ImageRecord, PlanEntry, Reject, plain
from transforms.core.stage import ModelStep
from transforms.formats import FORMATS
from transforms.maskers import MASKERS, PLANNERS
from transforms.removers import REMOVERS
from transforms.sources import SOURCES, plan_source
from transforms.stages.blend import blend
from transforms.stages.load import load_image

DEMO_IMAGES = sorted(glob.glob(os.path.join(DEMO_DATA, "images", "*.jpg")))[:3]
CAPTIONS = ["a cat on a sofa", "a photo of a dog", "an apple and a cat"]


# ---- inputs of every source kind ----------------------------------------------------------------------
def _coco(tmp) -> list[str]:
    return [f"source.annotations={DEMO_DATA}/instances.json", f"source.images={DEMO_DATA}/images"]


def _url_table(tmp) -> list[str]:
    path = os.path.join(tmp, "table.parquet")
    pq.write_table(pa.table({"url": DEMO_IMAGES, "caption": CAPTIONS}), path)
    return [f"source.annotations={path}", "source.allow_local_files=true"]   # absolute paths to the demo photos


def _webdataset(tmp) -> list[str]:
    path = os.path.join(tmp, "00000.tar")
    with tarfile.open(path, "w") as tar:
        for i, (image, caption) in enumerate(zip(DEMO_IMAGES, CAPTIONS)):
            for name, data in ((f"{i:09d}.jpg", open(image, "rb").read()), (f"{i:09d}.txt", caption.encode())):
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return [f"source.images={path}"]


def _folder(tmp) -> list[str]:
    return [f"source.images={DEMO_DATA}/images"]


def _openimages(tmp) -> list[str]:
    mask = np.zeros((60, 80), bool)
    mask[10:40, 20:60] = True
    cfg = write_openimages(tmp, {"0012ab_m01g317_aaaa1111.png": ("0012ab", "/m/01g317", mask)},
                           {"/m/01g317": "Person"})
    Image.new("RGB", (80, 60), (20, 90, 40)).save(os.path.join(tmp, "images", "0012ab.jpg"))
    return [f"source.annotations={cfg.annotations}", f"source.images={cfg.images}", f"source.masks={cfg.masks}",
            f"source.classes={cfg.classes}"]


SOURCE_INPUTS = {"coco": _coco, "lvis": _coco, "url_table": _url_table, "webdataset": _webdataset,
                 "folder": _folder, "openimages": _openimages}
MASKER_SETS = {
    "annotations": [],
    "brush": ["masks.brush.count=2"],
    "sam": ["masks.sam.model={sam}", "masks.sam.model_type=vit_tiny", "masks.sam.points_per_side=4",
            "masks.sam.pred_iou_thresh=0", "masks.sam.stability_score_thresh=0"],
    "grounded_sam": ["masks.grounding.model={grounding_dino}", "masks.grounding.sam_model={hf_sam}",
                     "masks.grounding.box_threshold=0", "masks.grounding.text_threshold=0",
                     "masks.grounding.max_boxes=2", "masks.grounding.prompt_source=categories"],
    "borrowed": ["masks.borrowed.max_object_share=1"],
    "diffedit": ["masks.diffedit.model={sd_t2i}", "masks.diffedit.size=64", "masks.diffedit.noise_draws=2"],   # the first demo photo is busy; keep it here
}
REMOVER_SETS = {
    "opencv": [],
    "diffusion": ["removal.diffusion.model={sd}", "removal.diffusion.steps=2", "removal.diffusion.candidates=2",
                  "removal.diffusion.size=64"],
}


def test_every_variant_is_covered():
    assert set(SOURCE_INPUTS) == set(SOURCES)
    assert set(MASKER_SETS) == set(MASKERS)
    assert set(REMOVER_SETS) == set(REMOVERS)
    assert set(FORMATS) == {"pipe", "brushdata", "paint_by_example"}  # each is built below


def _run(step, rec, section):
    """One element through a registry entry as the build runs it: a pure function, or pre -> the model
    handler (loaded from disk through the registry) -> post."""
    if not isinstance(step, ModelStep):
        out = step(rec, section)
    else:
        from model_wrappers.registry import build_handler
        pre = step.pre(rec, section)
        if isinstance(pre, Reject):
            return [pre]
        rec, request = pre
        handler = build_handler(step.family, step.section(section))
        [prediction] = handler.run_inference([request], handler.load_model())
        out = step.post(rec, prediction, section)
    return out if isinstance(out, list) else [out]


def _config(tiny, *sets: str):
    return load_config(DEMO_CONFIG, [s.format(**tiny) for s in sets])


# ---- sources ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", sorted(SOURCES))
def test_every_source_plans_typed_entries_that_load(tmp_path, kind):
    cfg = load_config(DEMO_CONFIG, [f"source.kind={kind}", "source.name=c", "source.shard_size=2",
                                    "image.size=64", "image.min_side=16", *SOURCE_INPUTS[kind](str(tmp_path))])
    shards = plan_source(cfg.source)
    entries = [e for shard in shards for e in shard]
    assert entries and all(isinstance(e, PlanEntry) for e in entries)
    assert all(len(s) <= 2 for s in shards)
    keys = [e.key for e in entries]
    assert len(set(keys)) == len(keys) and not any("." in k for k in keys)
    for e in entries:
        again = PlanEntry.from_json(json.loads(plan_text(0, [e]))["images"][0])  # what a plan file holds
        assert again == PlanEntry(e.key, e.uri, e.source_id, plain(e.objects), plain(e.meta), e.rejected)
        out = load_image(again.to_record(0), cfg.image)
        assert isinstance(out, ImageRecord) or (isinstance(out, list) and isinstance(out[0], ImageRecord)), out
        rec = out if isinstance(out, ImageRecord) else out[0]
        assert rec.image.dtype == np.uint8 and rec.image.ndim == 3 and min(rec.image.shape[:2]) == 64


# ---- maskers ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", sorted(MASKERS))
def test_every_masker_gives_candidates_in_the_image_frame(tiny, kind):
    cfg = _config(tiny, f"masks.kind={kind}", "image.size=64", *MASKER_SETS[kind])
    shards = plan_source(load_config(DEMO_CONFIG, ["source.limit=2"]).source)
    entry = PLANNERS.get(kind, lambda s, c: s)(shards, cfg)[0][0]   # a planner sees the whole plan first
    rec = load_image(entry.to_record(0), cfg.image)
    out = _run(MASKERS[kind], rec, cfg)
    records = [o for o in out if isinstance(o, ImageRecord)]
    rejects = [o for o in out if isinstance(o, Reject)]
    assert records == [rec] and rec.candidates, f"{kind} found no object on the demo photo: {rejects}"
    keys = [c.key for c in rec.candidates] + [r.key for r in rejects]
    assert len(set(keys)) == len(keys) and all(k.startswith(rec.key + "-") and "." not in k for k in keys)
    for c in rec.candidates:
        assert isinstance(c, Candidate) and c.image is rec.image and c.image_key == rec.key
        assert c.mask.dtype == bool and c.mask.shape == rec.image.shape[:2] and c.mask.any()
        assert c.class_name.strip() and c.meta["bbox_xyxy"] and 0 < c.scores["crop_kept"] <= 1
    assert all(r.stage == "propose" and r.level == "candidate" and r.reason for r in rejects)


# ---- removers -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", sorted(REMOVERS))
def test_every_remover_fills_the_dilated_object_and_blend_keeps_the_rest(tiny, kind):
    cfg = _config(tiny, f"removal.kind={kind}", "image.size=64", *REMOVER_SETS[kind])
    [entry] = plan_source(load_config(DEMO_CONFIG, ["source.limit=1"]).source)[0]
    rec = _run(MASKERS["annotations"], load_image(entry.to_record(0), cfg.image), cfg)[0]
    c = rec.candidates[0]
    [c] = _run(REMOVERS[kind], c, cfg.removal)
    assert isinstance(c, Candidate) and c.meta["removal"]["kind"] == kind
    assert c.dilated.dtype == bool and (c.dilated | c.mask).sum() == c.dilated.sum()  # covers the object
    assert c.source.dtype == np.uint8 and c.source.shape == c.image.shape
    c = blend(c, cfg.removal)
    assert np.array_equal(c.source[~c.dilated], c.image[~c.dilated])


# ---- output formats -----------------------------------------------------------------------------------
def _card(out: str) -> dict:
    text = open(os.path.join(out, "README.md")).read()
    return yaml.safe_load(text.split("---\n")[1])


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_every_format_writes_what_its_card_declares_and_datasets_reads_it(tmp_path, name):
    import datasets
    fmt = FORMATS[name]
    cfg = load_config(DEMO_CONFIG, [f"output.format={name}", "image.size=96"])
    assert [s for s, _, _ in stage_chain(cfg)][-1] == "encode"
    out = str(tmp_path / "out")
    report = run_build(cfg, out, [], log=lambda *_: None)
    assert report["pairs"] > 0
    tars = sorted(glob.glob(f"{out}/shards/*.tar"))
    samples = list(wds.WebDataset(tars, shardshuffle=False))
    assert len(samples) == report["pairs"]
    members = fmt.member_names("jpg")
    for s in samples:
        assert sorted(k for k in s if not k.startswith("__")) == sorted(members), s.keys()
    for path in glob.glob(f"{out}/shards/*.parquet"):
        assert pq.read_schema(path).remove_metadata().equals(fmt.schema)
    card = _card(out)
    declared = [f["name"] for f in card["dataset_info"]["features"]]
    assert declared == ["__key__", *members]  # the card declares exactly the members the tars hold
    assert card["dataset_info"]["splits"][0]["num_examples"] == report["pairs"]
    ds = datasets.load_dataset(out, split="train", cache_dir=str(tmp_path / "hf"))
    assert len(ds) == report["pairs"] and list(ds.features) == declared
    for row in ds:
        assert all(row[m] is not None for m in declared), {m: row[m] is None for m in declared}
        assert row["json"] and row["json"]["image_id"] if name == "brushdata" else row["json"]["source"]
        if name == "paint_by_example":   # the reference decodes at its size; mask and photo share a frame
            assert row["reference.jpg"].size == (224, 224) and list(row["mask.png"].size) == row["json"]["size_hw"][::-1]
    view = fmt.view(samples[0])
    assert {"source", "target", "mask"} <= set(view["images"]) and view["key"] == samples[0]["__key__"]
