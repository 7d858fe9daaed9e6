"""Paint by Example triplets: the irregular box mask, the augmented reference, and a build read back."""
from __future__ import annotations

import dataclasses
import glob
import io
import json
import os

import cv2
import numpy as np
import pyarrow.parquet as pq
import pytest
import webdataset as wds
from PIL import Image

from configs.schema import ConfigError, ExemplarConfig, load_config
from faults.kit import assert_accounting
from helpers import DEMO_CONFIG, DEMO_DATA, ROOT, write_openimages
from pipelines.run import run_build
from transforms.core.records import Candidate, Reject
from transforms.formats.exemplar import augment_reference, irregular_box_mask, reference_params
from transforms.formats.paint_by_example import encode_triplet

NO_AUG = dataclasses.replace(ExemplarConfig(), flip=0, max_rotation=0, blur=0, elastic=0, perspective=0,
                             colour_jitter=0)


def _box_mask(hw, box):
    m = np.zeros(hw, bool)
    m[box[1]:box[3], box[0]:box[2]] = True
    return m


@pytest.mark.parametrize("seed", range(5))
def test_irregular_mask_follows_the_box_but_not_its_straight_edges(seed):
    box = [40, 30, 160, 110]
    mask, params = irregular_box_mask((200, 220), box, ExemplarConfig(), np.random.default_rng(seed))
    rect = _box_mask((200, 220), box)
    assert mask.dtype == bool and mask.shape == (200, 220)
    iou = (mask & rect).sum() / (mask | rect).sum()
    assert 0.7 < iou < 0.995, iou                       # around the box, and irregular (not the box itself)
    reach = ExemplarConfig().bulge * 120 / 2 + ExemplarConfig().max_offset + 1
    grown = _box_mask((200, 220), [int(box[0] - reach), int(box[1] - reach), int(box[2] + reach),
                                   int(box[3] + reach)])
    assert not (mask & ~grown).any()                    # never beyond the bend and the jitter
    assert len(params["bends"]) == 4
    again, _ = irregular_box_mask((200, 220), box, ExemplarConfig(), np.random.default_rng(seed))
    assert np.array_equal(mask, again)


def test_reference_without_augmentation_is_the_squeezed_crop_and_each_augmentation_changes_it():
    rng = np.random.default_rng(0)
    crop = rng.integers(0, 256, (50, 80, 3), dtype=np.uint8)
    crop[:, :40] = (200, 30, 30)                       # left half red: a flip must move it
    plain_params = reference_params(NO_AUG, np.random.default_rng(1))
    plain = augment_reference(crop, plain_params, 224)
    assert plain.shape == (224, 224, 3) and plain.dtype == np.uint8
    assert plain_params["flip"] is False and plain_params["blur"] == 0 and plain_params["perspective"] == []
    assert np.abs(plain.astype(int) - cv2.resize(crop, (224, 224), interpolation=cv2.INTER_AREA)).max() <= 1
    flipped = augment_reference(crop, {**plain_params, "flip": True}, 224)
    assert np.abs(flipped.astype(int) - plain[:, ::-1]).max() <= 1
    for change in ({"rotation": 15.0}, {"blur": 5}, {"elastic_seed": 7}, {"brightness": 1.2},
                   {"perspective": [10.0] * 8}):
        assert not np.array_equal(augment_reference(crop, {**plain_params, **change}, 224), plain), change


def _candidate(box, key="img-1"):
    image = np.random.default_rng(3).integers(0, 256, (96, 128, 3), dtype=np.uint8)
    mask = _box_mask((96, 128), box)
    return Candidate(key=key, shard=0, image_key="img", class_name="cat", category_id=17, image=image, mask=mask,
                     meta={"bbox_xyxy": box, "size_hw": [96, 128], "source": {"dataset": "d", "image_id": "1",
                                                                                 "ann_id": "1"}})


def test_a_small_object_is_a_reject_and_a_sample_is_the_same_bytes_twice():
    cfg = load_config(DEMO_CONFIG, ["output.format=paint_by_example", "output.pbe.min_object_side=20"])
    small = encode_triplet(_candidate([10, 10, 60, 25]), cfg)
    assert isinstance(small, Reject) and small.reason == "reference_too_small" and small.stage == "encode"
    assert "output.pbe.min_object_side" in small.detail
    one, two = (encode_triplet(_candidate([10, 10, 60, 50]), cfg) for _ in range(2))
    assert one.members == two.members
    other = encode_triplet(_candidate([10, 10, 60, 50], key="img-2"), cfg)
    assert other.members["mask.png"] != one.members["mask.png"]   # seeded from the key
    assert one.members["bbox"] == b"10 10 60 50"
    meta = json.loads(one.members["json"])
    assert meta["class"] == "cat" and set(meta["augmentation"]) >= {"flip", "rotation", "blur", "elastic_seed"}


def test_config_names_the_bad_key():
    with pytest.raises(ConfigError, match="output.pbe.blur"):
        load_config(DEMO_CONFIG, ["output.pbe.blur=2"])


def _read(out):
    samples = list(wds.WebDataset(sorted(glob.glob(f"{out}/shards/*.tar")), shardshuffle=False))
    rejects = pq.read_table(sorted(glob.glob(f"{out}/rejects/*.parquet"))).to_pylist()
    return samples, rejects


def test_demo_build_every_object_ends_as_a_triplet_or_a_reject_and_reruns_byte_identical(tmp_path):
    sets = ["output.format=paint_by_example", "image.size=128", "output.pbe.reference_size=64",
            "output.pbe.min_object_side=12"]
    out = str(tmp_path / "a")
    report = run_build(load_config(DEMO_CONFIG, sets), out, [], log=lambda *_: None)
    assert_accounting(out, report)
    samples, rejects = _read(out)
    coco = json.load(open(os.path.join(DEMO_DATA, "instances.json")))
    image_rejected = {r["image_key"] for r in rejects if r["level"] == "image"}
    expected = {f"demo-{a['image_id']:012d}-{a['id']}" for a in coco["annotations"]
                if f"demo-{a['image_id']:012d}" not in image_rejected}
    keys = {s["__key__"] for s in samples}
    assert keys | {r["key"] for r in rejects if r["level"] == "candidate"} == expected and keys
    assert report["pairs"] == len(samples) and report["candidates"] == len(expected)
    assert [s["stage"] for s in report["stages"]] == ["read", "load", "propose", "filter", "encode", "write"]
    for s in samples:
        image = np.asarray(Image.open(io.BytesIO(s["image"])))
        mask = np.asarray(Image.open(io.BytesIO(s["mask.png"])))
        ref = np.asarray(Image.open(io.BytesIO(s["reference.jpg"])))
        assert ref.shape == (64, 64, 3) and mask.shape == image.shape[:2] and set(np.unique(mask)) <= {0, 255}
        x1, y1, x2, y2 = map(int, s["bbox"].split())
        assert json.loads(s["json"])["bbox_xyxy"] == [x1, y1, x2, y2]
        reach = int(0.1 * max(x2 - x1, y2 - y1) / 2 + 5 + 1)   # the bend (bulge 0.1) and the 1-5 px jitter
        assert mask[y1 + reach:y2 - reach, x1 + reach:x2 - reach].all()   # the box's core is masked
        outside = np.ones(mask.shape, bool)
        outside[max(y1 - reach, 0):y2 + reach, max(x1 - reach, 0):x2 + reach] = False
        assert not mask[outside].any()                    # and nothing far from the box
    again = str(tmp_path / "b")
    run_build(load_config(DEMO_CONFIG, sets), again, [], log=lambda *_: None)
    for path in sorted(glob.glob(f"{out}/shards/*.tar")):
        assert open(path, "rb").read() == open(path.replace(out, again), "rb").read()
    card = open(os.path.join(out, "README.md")).read()
    assert "Paint by Example" in card and f"{len(samples)} exemplar-based inpainting triplets" in " ".join(
        card.split())


def test_the_openimages_recipe_builds_triplets_from_segmentations(tmp_path):
    mask = np.zeros((120, 160), bool)
    mask[20:90, 30:130] = True
    src = write_openimages(str(tmp_path), {"0012ab_m01g317_aaaa1111.png": ("0012ab", "/m/01g317", mask)},
                           {"/m/01g317": "Person"})
    Image.fromarray(np.full((120, 160, 3), 90, np.uint8)).save(os.path.join(src.images, "0012ab.jpg"))
    cfg = load_config(os.path.join(ROOT, "configs", "pbe_openimages.yaml"),
                      [f"source.annotations={src.annotations}", f"source.images={src.images}",
                       f"source.masks={src.masks}", f"source.classes={src.classes}", "image.size=128"])
    out = str(tmp_path / "out")
    report = run_build(cfg, out, [], log=lambda *_: None)
    samples, rejects = _read(out)
    assert report["pairs"] == len(samples) == 1 and not rejects
    assert json.loads(samples[0]["json"])["class"] == "person"   # display names in lower case


def test_triplets_from_model_masks(tiny, tmp_path):
    """Objects a model proposes (SAM automatic masks, tiny random model) become triplets the same way."""
    sets = ["output.format=paint_by_example", "source.limit=1", "image.size=64", "image.min_side=16",
            "masks.kind=sam", f"masks.sam.model={tiny['sam']}", "masks.sam.model_type=vit_tiny",
            "masks.sam.points_per_side=4", "masks.sam.pred_iou_thresh=0", "masks.sam.stability_score_thresh=0",
            "filters.max_border_touch=1", "filters.min_component_share=0", "filters.min_pixels=1",
            "output.pbe.min_object_side=4", "output.pbe.reference_size=32"]
    out = str(tmp_path / "out")
    report = run_build(load_config(DEMO_CONFIG, sets), out, [], log=lambda *_: None)
    assert_accounting(out, report)
    samples, _ = _read(out)
    assert report["pairs"] == len(samples) > 0
    for s in samples:
        meta = json.loads(s["json"])
        assert meta["masks"]["kind"] == "sam" and meta["class"] == "object"
        assert np.asarray(Image.open(io.BytesIO(s["reference.jpg"]))).shape == (32, 32, 3)


def test_the_openimages_recipe_builds_triplets_from_the_box_csv(tmp_path):
    """Open Images' box CSV (what PbE trains on): each box an object, no mask files; a group box is crowd and a
    box outside 0-1 a reject of the load stage."""
    os.makedirs(tmp_path / "images")
    Image.fromarray(np.full((120, 160, 3), 90, np.uint8)).save(tmp_path / "images" / "00ab.jpg")
    (tmp_path / "classes.csv").write_text("/m/01g317,Person\n/m/0k4j,Car\n")
    (tmp_path / "boxes.csv").write_text(
        "ImageID,Source,LabelName,Confidence,XMin,XMax,YMin,YMax,IsOccluded,IsTruncated,IsGroupOf\n"
        "00ab,xclick,/m/01g317,1,0.25,0.75,0.2,0.8,0,0,0\n"
        "00ab,xclick,/m/0k4j,1,0.1,0.3,0.1,0.3,0,0,1\n"
        "00ab,xclick,/m/0k4j,1,0.5,1.5,0.1,0.3,0,0,0\n")
    cfg = load_config(os.path.join(ROOT, "configs", "pbe_openimages.yaml"),
                      [f"source.annotations={tmp_path / 'boxes.csv'}", f"source.images={tmp_path / 'images'}",
                       f"source.classes={tmp_path / 'classes.csv'}", "source.masks=", "image.size=120"])
    out = str(tmp_path / "out")
    report = run_build(cfg, out, [], log=lambda *_: None)
    assert_accounting(out, report)
    samples, rejects = _read(out)
    assert sorted((r["stage"], r["reason"]) for r in rejects) == [("load", "bad_box"), ("propose", "iscrowd")]
    [s] = samples
    assert json.loads(s["json"])["class"] == "person" and s["bbox"] == b"20 24 100 96"   # x 40-120 of 160, centre crop to 120
