"""End to end on Beam (in-process FnApiRunner) with the tiny stand-in models: a LAION-style parquet of URLs on
the local server becomes BrushData shards (Grounded-SAM masks from caption classes) and PIPE pairs (brush
masks, diffusion removal, VLM and LLM); an Open Images set written by the test feeds the PIPE recipe. Every
row ends as a written sample or its precise reject, and the funnel accounts for every image."""
from __future__ import annotations

import io
import json
import os
import time

import cv2
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from configs.schema import load_config
from helpers import DEMO_DATA, ROOT
from pipelines import outputs
from pipelines.run import run_build
from helpers import write_openimages
from web import NAMES, photo
from tiny_models import tiny_overrides
from transforms.formats.brushdata import decode_brushnet_runs
from transforms.core.masks import decode_segmentation
from transforms.core.keys import key_seed
from transforms.maskers.brush import brush_mask
from transforms.core.keys import safe_key

BRUSHDATA = os.path.join(ROOT, "configs", "brushdata_laion.yaml")
PIPE = os.path.join(ROOT, "configs", "pipe_coco.yaml")
CAPTIONS = ["a photo of a cat", "a red apple next to a dog", "a cat", "the dog", "an apple",
            "a photo of an empty place", "a dog and a cat"]
FAILING = {"/missing.jpg": "load/http_404", "/down.jpg": "load/http_503", "/slow.jpg": "load/timeout",
           "/huge.jpg": "load/too_large", "/page.html": "load/not_an_image", "/fake.jpg": "load/not_an_image",
           "/loop": "load/too_many_redirects"}
FAST = ["image.fetch.read_timeout=0.5", "image.fetch.total_timeout=3", "image.fetch.retries=1",
        "image.fetch.backoff=0.05", "image.fetch.max_bytes=4194304",
        "image.fetch.allow_private_addresses=true"]   # the test server is on loopback
KEEP_ALL = ["filters.min_area_ratio=0", "filters.max_area_ratio=1", "filters.min_pixels=1",
            "filters.max_border_touch=1", "filters.min_component_share=0", "filters.min_crop_kept=0",
            "filters.min_sam_iou=0", "filters.max_objects=0"]


def laion_table(folder, web, run: str) -> tuple[str, dict[str, str]]:
    """A parquet of URLs (good, flaky, redirected, failing, file://, local, empty, data:) and the outcome
    each row's key must end with ('written' for the good ones)."""
    local = os.path.join(folder, "local.jpg")
    with open(local, "wb") as f:
        f.write(photo(NAMES[4]))
    rows = [(web.url(f"/img/{n}?{run}"), c, "written") for n, c in zip(NAMES, CAPTIONS)]
    rows += [(web.url(f"/flaky/{NAMES[0]}?{run}"), "a cat again", "written"),
             (web.url(f"/redirect/{NAMES[1]}?{run}"), "a dog, redirected", "written"),
             (f"file://{local}", "a cat from a file url", "read/local_path_refused"),   # source.allow_local_files off
             ("local.jpg", "a dog from a path", "written"),
             ("", "an apple without a url", "read/no_url"), ("data:image/png;base64,iVBO", "a cat", "read/bad_scheme")]
    rows += [(web.url(f"{p}?{run}"), "a cat", want) for p, want in FAILING.items()]
    path = os.path.join(folder, "laion.parquet")
    pq.write_table(pa.table({"url": [r[0] for r in rows], "caption": [r[1] for r in rows]}), path)
    return path, {f"laion-0000-{i:09d}": r[2] for i, r in enumerate(rows)}


def outcomes(out: str) -> dict[str, str]:
    """image key -> 'written', '<stage>/<reason>' of its image reject, or 'masks_rejected' (only candidate
    rejects), read back from the shards' sidecars."""
    got: dict[str, str] = {}
    for shard in outputs.finished_shards(out):
        for key in outputs.read_pairs_table(out, shard, ["image_key"]).column(0).to_pylist():
            got[key] = "written"
        for r in outputs.read_rejects_table(out, shard).to_pylist():
            if r["level"] == "image":
                got[r["image_key"]] = f"{r['stage']}/{r['reason']}"
            else:
                got.setdefault(r["image_key"], "masks_rejected")
    return got


def check_accounting(report: dict, want: dict[str, str], got: dict[str, str]) -> None:
    assert report["lost_images"] == [] and report["images_in"] == len(want) == len(got)
    assert report["images_rejected"] + report["images_with_candidates"] == report["images_in"]
    last = report["stages"][-1]
    assert last["candidates_kept"] == report["candidates"] - sum(
        sum(s["candidates_dropped"].values()) for s in report["stages"])


def test_laion_urls_become_brushdata_shards_with_grounded_sam_masks(tmp_path, web, tiny):
    import datasets
    table, want = laion_table(str(tmp_path), web, "run=brushdata")
    cfg = load_config(BRUSHDATA, [f"source.annotations={table}", "source.shard_size=8", "image.size=96",
                                  "image.min_side=16", *FAST, *KEEP_ALL, f"masks.grounding.model={tiny['grounding_dino']}",
                                  f"masks.grounding.sam_model={tiny['hf_sam']}", "masks.grounding.box_threshold=0",
                                  "masks.grounding.text_threshold=0", "masks.grounding.max_boxes=3",
                                  "masks.grounding.batch_size=2"])
    start = time.monotonic()
    report = run_build(cfg, str(tmp_path / "out"), [], log=lambda *_: None)
    assert time.monotonic() - start < 90
    got = outcomes(str(tmp_path / "out"))
    check_accounting(report, want, got)
    want["laion-0000-000000005"] = "propose/no_prompts"  # its caption names no class: nothing to prompt
    for key, outcome in want.items():  # random weights: an image's masks may all fail the filters
        assert got[key] in (("written", "masks_rejected") if outcome == "written" else (outcome,)), key
    assert list(got.values()).count("written") >= 5
    ds = datasets.load_dataset("webdataset", data_files={"train": str(tmp_path / "out" / "shards" / "*.tar")},
                               split="train", cache_dir=str(tmp_path / "hf"))
    assert len(ds) == report["pairs"] == list(got.values()).count("written")
    for row in ds:
        h, w = int(row["height"]), int(row["width"])
        assert min(h, w) == 96 and cv2.imdecode(np.frombuffer(row["image"], np.uint8), 1).shape == (h, w, 3)
        seg = json.loads(row["segmentation"])
        assert seg["mask"] and all(decode_brushnet_runs(r, h, w).any() for r in seg["mask"])
        caption_classes = {"cat", "dog", "apple"} & set(row["caption"].decode().replace(",", " ").split())
        assert set(seg["class"]) <= caption_classes, (seg["class"], row["caption"])
        assert row["json"]["masks_kind"] == "grounded_sam" and row["json"]["url"]


def test_laion_urls_become_pipe_pairs_with_brush_masks(tmp_path, web, tiny):
    table, want = laion_table(str(tmp_path), web, "run=pipe")
    cfg = load_config(PIPE, [f"source.kind=laion_parquet", f"source.annotations={table}", "source.name=laion",
                             "source.shard_size=8", "image.size=64", "image.min_side=16", *FAST, *KEEP_ALL,
                             "masks.kind=brush", *tiny_overrides(tiny, masks=None)])
    report = run_build(cfg, str(tmp_path / "out"), [], log=lambda *_: None)
    got = outcomes(str(tmp_path / "out"))
    check_accounting(report, want, got)
    assert got == want
    for shard in outputs.finished_shards(str(tmp_path / "out")):
        for sample in outputs.iter_samples(str(tmp_path / "out"), shard):
            meta = json.loads(sample["json"])
            mask = np.asarray(Image.open(io.BytesIO(sample["mask.png"]))) > 0
            again = brush_mask(64, 64, cfg.masks.brush,
                               np.random.default_rng(key_seed(safe_key(meta["image_key"], 0), cfg.masks.brush.seed)))
            assert np.array_equal(mask, again)  # the brush mask is a function of the key
            assert meta["caption"] and sample["txt"] is not None and meta["masks"]["kind"] == "brush"


def test_openimages_feeds_the_pipe_recipe(tmp_path, tiny):
    with open(os.path.join(DEMO_DATA, "instances.json")) as f:
        coco = json.load(f)
    names = {c["id"]: c["name"] for c in coco["categories"]}
    labels = {f"/m/0{cid:03d}": name.title() for cid, name in names.items()}
    images = {im["id"]: im for im in coco["images"]}
    masks = {}
    for ann in coco["annotations"]:
        if ann["image_id"] in (1, 3, 7):
            im = images[ann["image_id"]]
            m = decode_segmentation(ann["segmentation"], im["height"], im["width"]).view(np.uint8)
            small = cv2.resize(m, (im["width"] // 2, im["height"] // 2), interpolation=cv2.INTER_NEAREST)
            image_id = f"{ann['image_id']:016x}"
            masks[f"{image_id}_m0{ann['category_id']:03d}_{ann['id']:08x}.png"] = (
                image_id, f"/m/0{ann['category_id']:03d}", small.astype(bool))
    masks["0000000000000003_m0999_ffffffff.png"] = ("0000000000000003", "/m/0999", small.astype(bool))
    src = write_openimages(str(tmp_path / "oi"), masks, labels)
    for i in (1, 3, 7):
        with open(os.path.join(src.images, f"{i:016x}.jpg"), "wb") as f:
            f.write(photo(images[i]["file_name"]))
    os.remove(os.path.join(src.masks, sorted(masks)[0]))
    cfg = load_config(PIPE, ["source.kind=openimages", f"source.annotations={src.annotations}",
                             f"source.images={src.images}", f"source.masks={src.masks}", f"source.classes={src.classes}",
                             "source.name=oi", "image.size=64", *tiny_overrides(tiny, masks=None)])
    report = run_build(cfg, str(tmp_path / "out"), [], log=lambda *_: None)
    assert report["lost_images"] == [] and report["images_in"] == 3 and report["pairs"] >= 1
    rejects = [r for s in outputs.finished_shards(str(tmp_path / "out"))
               for r in outputs.read_rejects_table(str(tmp_path / "out"), s).to_pylist()]
    reasons = {(r["stage"], r["reason"]) for r in rejects}
    assert {("load", "mask_file_missing"), ("propose", "unknown_category")} <= reasons
    classes = {row for s in outputs.finished_shards(str(tmp_path / "out"))
               for row in outputs.read_pairs_table(str(tmp_path / "out"), s, ["class_name"]).column(0).to_pylist()}
    assert classes and classes <= set(names.values())
