"""BrushData-v2 (masks.kind borrowed): clean backgrounds, masks borrowed from other images, same bytes anywhere."""
from __future__ import annotations

import glob
import json
import os

import numpy as np
import pyarrow.parquet as pq
import pytest
import webdataset as wds

from configs.schema import ConfigError, load_config
from faults.kit import assert_accounting
from helpers import DEMO_DATA, ROOT, circle_polygon, write_coco
from pipelines.run import run_build
from transforms.formats.brushdata import union_mask
from transforms.core.records import ImageRecord, ObjectRef, plain
from transforms.maskers.borrowed import DONOR, busy_background, place_shape, plan_donors
from transforms.sources import plan_source

V2 = os.path.join(ROOT, "configs", "brushdata_v2_coco.yaml")
SMALL = ["image.size=96", "image.min_side=16"]


def _donors(*sets):
    cfg = load_config(V2, [*SMALL, *sets])
    return {e.key: e.meta.get(DONOR) for shard in plan_donors(plan_source(cfg.source), cfg) for e in shard}


def test_every_image_borrows_another_images_object_whatever_the_sharding():
    one, many = _donors("source.shard_size=1000"), _donors("source.shard_size=2")
    assert one == many and len(one) == 7                  # a pure function of the key over the whole plan
    coco = json.load(open(os.path.join(DEMO_DATA, "instances.json")))
    shapes = {str(a["id"]): a["segmentation"] for a in coco["annotations"]}
    for key, donor in one.items():
        assert donor["image_key"] != key and plain(donor)["segmentation"] == shapes[donor["ann_id"]]
    assert len({d["image_key"] + d["ann_id"] for d in one.values()}) > 1   # not one donor for all
    assert _donors("masks.borrowed.seed=5") != one
    assert set(_donors("masks.borrowed.source=brush").values()) == {None}  # brush masks need no donor


@pytest.mark.parametrize("area", [0.05, 0.2, 0.6])
def test_a_shape_is_scaled_to_its_area_and_placed_inside_the_frame(area):
    shape = np.zeros((300, 400), bool)
    shape[50:110, 100:220] = True                          # 60x120 box: half a frame's width at 240
    shape[50:80, 100:160] = False                          # an L, so the shape (not its box) must survive
    mask, scale, (x, y) = place_shape(shape, (240, 320), area, np.random.default_rng(1))
    assert mask.shape == (240, 320) and mask.dtype == bool
    assert abs(mask.mean() - area) < 0.02 or scale == pytest.approx(min(240 / 60, 320 / 120), rel=1e-3)
    nh, nw = round(60 * scale), round(120 * scale)
    assert not mask[:y].any() and not mask[:, :x].any() and mask[y:y + nh, x:x + nw].sum() == mask.sum()
    assert not mask[y, x] and mask[y + nh - 1, x]          # the L's cut-out corner stayed cut out


def test_a_busy_image_is_a_reject_and_a_lone_object_is_clean_with_max_objects(tmp_path):
    image = np.full((96, 96, 3), 120, np.uint8)
    ann = [{"id": 1, "image_id": 1, "category_id": 1, "segmentation": [circle_polygon(48, 48, 40)], "iscrowd": 0},
           {"id": 2, "image_id": 2, "category_id": 1, "segmentation": [circle_polygon(20, 20, 8)], "iscrowd": 0}]
    path, images = write_coco(str(tmp_path), {"a.jpg": image, "b.jpg": image}, ann)
    sets = [f"source.annotations={path}", f"source.images={images}", "source.name=t", *SMALL]
    out = str(tmp_path / "out")
    report = run_build(load_config(V2, sets), out, [], log=lambda *_: None)
    rejects = pq.read_table(glob.glob(f"{out}/rejects/*.parquet")).to_pylist()
    assert [(r["key"], r["reason"]) for r in rejects] == [("t-000000000001", "busy_background")]
    assert "masks.borrowed.max_object_share" in rejects[0]["detail"] and report["pairs"] == 1
    out2 = str(tmp_path / "out2")
    assert run_build(load_config(V2, [*sets, "masks.borrowed.max_objects=1"]), out2, [],
                     log=lambda *_: None)["pairs"] == 2


def test_config_names_the_bad_key():
    with pytest.raises(ConfigError, match="masks.borrowed.source"):
        load_config(V2, ["masks.borrowed.source=sam"])


def _samples(out):
    return list(wds.WebDataset(sorted(glob.glob(f"{out}/shards/*.tar")), shardshuffle=False))


def test_the_recipe_builds_every_image_once_with_the_origin_and_the_same_bytes_on_two_workers(tmp_path):
    sets = [*SMALL, "masks.borrowed.max_object_share=0.6", "source.shard_size=3"]
    out, again = str(tmp_path / "a"), str(tmp_path / "b")
    report = run_build(load_config(V2, sets), out, [], log=lambda *_: None)
    assert_accounting(out, report)
    samples = _samples(out)
    rejects = pq.read_table(sorted(glob.glob(f"{out}/rejects/*.parquet"))).to_pylist()
    assert report["images_in"] == 7 == len(samples) + len(rejects) and report["lost_images"] == []
    assert {r["reason"] for r in rejects} == {"busy_background"} and len(samples) >= 3
    donors = _donors(*sets)
    for s in samples:
        meta = json.loads(s["json"])
        donor = donors[s["__key__"]]
        assert meta["masks_kind"] == "borrowed" and meta["mask_source"] == "objects"
        assert (meta["mask_from_image"], meta["mask_from_ann_id"]) == (donor["image_key"], donor["ann_id"])
        assert meta["mask_from_image"] != s["__key__"] and meta["mask_from_class"] == donor["class_name"]
        mask = union_mask(s["segmentation"])
        assert mask.shape == (int(s["height"]), int(s["width"])) and 0.04 < mask.mean() < 0.31
        assert json.loads(s["segmentation"])["class"] == ["background"]
    card = open(f"{out}/README.md").read()     # the card says BrushData-v2, not BrushData's own masks
    assert f"{len(samples)} clean-background images, each paired with a mask it does not own" in card
    assert "the objects annotated in it cover less than 0.6 of the frame" in card
    assert "among the whole run's annotated objects, scaled to cover 0.05 to 0.3 of the frame" in card
    assert "every mask kept for it" not in card and "`mask_from_masker`" not in card
    page = open(f"{out}/report.html").read()       # the report counts what the format writes: samples
    assert f"<b>{len(samples)} samples</b>" in page and f"of {len(samples)} samples, spread" in page
    assert " pairs" not in page.split("<h2>Funnel</h2>")[0]
    run_build(load_config(V2, sets), again, ["--direct_num_workers=2"], log=lambda *_: None)
    for path in sorted(glob.glob(f"{out}/shards/*.tar")) + sorted(glob.glob(f"{out}/rejects/*.parquet")):
        assert open(path, "rb").read() == open(path.replace(out, again), "rb").read(), path


def test_random_brush_masks_for_clean_images(tmp_path):
    out = str(tmp_path / "out")
    report = run_build(load_config(V2, [*SMALL, "masks.borrowed.source=brush"]), out, [], log=lambda *_: None)
    samples = _samples(out)
    assert report["pairs"] == len(samples) > 0
    assert {json.loads(s["json"])["mask_source"] for s in samples} == {"brush"}
    card = open(f"{out}/README.md").read()
    assert "its mask is a random brush mask (BrushNet's strokes, `masks.brush`) drawn from its key" in card
    assert "borrowed from another image" not in card


def test_objects_named_without_a_shape_are_judged_by_their_count():
    """A caption's classes have no shape: an image naming more than max_objects of them is not clean."""
    cfg = load_config(V2, SMALL)
    rec = ImageRecord("k", 0, "", "1", objects=[ObjectRef("1", -1, "cat"), ObjectRef("2", -1, "dog")],
                      image=np.zeros((64, 64, 3), np.uint8))
    assert "2 objects, 2 without a shape" in busy_background(rec, cfg)
    assert busy_background(rec, load_config(V2, [*SMALL, "masks.borrowed.max_objects=2"])) == ""
    assert busy_background(ImageRecord("k", 0, "", "1", image=rec.image), cfg) == ""


def test_annotation_donors_from_a_source_without_shapes_stop_at_planning_naming_the_key(tmp_path):
    cfg = load_config(V2, ["source.kind=folder", f"source.images={DEMO_DATA}/images", "source.name=f"])
    with pytest.raises(ConfigError, match=r"masks\.borrowed\.donors=annotations: none of the 7 planned images"):
        run_build(cfg, str(tmp_path / "out"), [], log=lambda *_: None)
    assert not os.path.exists(tmp_path / "out")      # stopped before anything was written
