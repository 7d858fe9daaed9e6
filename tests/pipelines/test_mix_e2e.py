"""A mix of sources in one build (in-process Beam, the CPU default recipe): the demo photographs as a COCO set,
an LVIS-style set over the same images (rows naming their file by ``coco_url`` only, as LVIS does) that
redraws some of COCO's objects and adds others, and an Open Images-style set of its own. Each image is
loaded once, an object both sets masked is one pair (LVIS's, the finer vocabulary), the other one a reject
naming the kept key, the funnel's rows per source add up to its total, and the PIPE export names each row's
dataset and splits by whole images."""
from __future__ import annotations

import collections
import json
import os
import shutil

import cv2
import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml

from configs.schema import ConfigError, load_config
from helpers import DEMO_CONFIG, DEMO_DATA, write_openimages
from pipelines import outputs
from pipelines.export import export_pipe
from pipelines.plan import read_summary
from pipelines.report import format_funnel
from pipelines.run import run_build
from transforms.core.masks import coco_rle, decode_segmentation
from transforms.maskers.merge import mask_iou


def _lvis_set(folder) -> tuple[str, set[int], set[int]]:
    """An LVIS-style json over the demo images: odd COCO objects redrawn 1 px to the right (the same objects,
    a finer class name each), even ones shrunk to 40% around their centre (objects COCO does not have).
    Returns (path, COCO ids redrawn, COCO ids shrunk)."""
    coco = json.load(open(os.path.join(DEMO_DATA, "instances.json")))
    names = {c["id"]: c["name"] for c in coco["categories"]}
    images = [{"id": im["id"], "width": im["width"], "height": im["height"],
               "coco_url": f"http://images.cocodataset.org/train2017/{im['file_name']}"} for im in coco["images"]]
    sizes = {im["id"]: (im["height"], im["width"]) for im in coco["images"]}
    anns, cats, redrawn, shrunk = [], [], set(), set()
    for ann in coco["annotations"]:
        mask = decode_segmentation(ann["segmentation"], *sizes[ann["image_id"]])
        if ann["id"] % 2:
            mask = np.roll(mask, 1, axis=1)
            redrawn.add(ann["id"])
        else:
            ys, xs = np.nonzero(mask)
            box = mask[ys.min(): ys.max() + 1, xs.min(): xs.max() + 1].astype(np.uint8)
            small = cv2.resize(box, None, fx=0.4, fy=0.4, interpolation=cv2.INTER_NEAREST).astype(bool)
            y0 = (ys.min() + ys.max() - small.shape[0]) // 2
            x0 = (xs.min() + xs.max() - small.shape[1]) // 2
            mask = np.zeros_like(mask)
            mask[y0: y0 + small.shape[0], x0: x0 + small.shape[1]] = small
            shrunk.add(ann["id"])
        cats.append({"id": ann["id"], "name": f"{names[ann['category_id']]} {ann['id']}"})
        anns.append({"id": 1000 + ann["id"], "image_id": ann["image_id"], "category_id": ann["id"],
                     "segmentation": coco_rle(mask), "iscrowd": 0})
    path = os.path.join(folder, "lvis_v1_train.json")
    json.dump({"images": images, "annotations": anns, "categories": cats}, open(path, "w"))
    return path, redrawn, shrunk


def _openimages_set(folder) -> dict:
    photo = os.path.join(DEMO_DATA, "images", "000000000002.jpg")
    mask = np.zeros((512, 512), bool)
    mask[180:330, 200:360] = True
    src = write_openimages(folder, {"oi1_m0a1b2c3.png": ("oi1", "/m/01yrx", mask)}, {"/m/01yrx": "Cat"})
    shutil.copy(photo, os.path.join(folder, "images", "oi1.jpg"))
    return {"kind": "openimages", "name": "oi", "annotations": src.annotations, "images": src.images,
            "masks": src.masks, "classes": src.classes}


def _mix_config(tmp_path, lvis: str, oi: dict, **shared):
    recipe = yaml.safe_load(open(DEMO_CONFIG))
    recipe["source"] = {"shard_size": 3, **shared, "mix": [
        {"kind": "coco", "name": "coco", "annotations": os.path.join(DEMO_DATA, "instances.json"),
         "images": os.path.join(DEMO_DATA, "images")},
        {"kind": "lvis", "name": "lvis", "annotations": lvis, "images": os.path.join(DEMO_DATA, "images")},
        oi]}
    recipe["filters"]["max_border_touch"] = 1.0
    path = tmp_path / "mix.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return load_config(str(path))


def _rows(out: str, table: str) -> list[dict]:
    read = outputs.read_rejects_table if table == "rejects" else outputs.read_pairs_table
    return [r for k in outputs.finished_shards(out) for r in read(out, k).to_pylist()]


def test_a_mix_loads_each_image_once_and_keeps_each_object_once(tmp_path):
    lvis, redrawn, shrunk = _lvis_set(str(tmp_path))
    cfg = _mix_config(tmp_path, lvis, _openimages_set(str(tmp_path / "oi")))
    out, lines = str(tmp_path / "out"), []
    report = run_build(cfg, out, [], log=lines.append)

    assert read_summary(out)["images_in_several"] == 7          # every LVIS image is a COCO image
    assert report["images_in"] == 8                             # 7 demo photos + 1 Open Images photo
    assert "plan: 3 sources (coco, lvis, oi); 7 images named by more than one, planned once" in lines
    pairs, rejects = _rows(out, "pairs"), _rows(out, "rejects")
    keys = [p["key"] for p in pairs] + [r["key"] for r in rejects if r["level"] == "candidate"]
    assert len(keys) == len(set(keys)) == report["candidates"] == 18 + 18 + 1
    dups = {r["key"]: r["detail"] for r in rejects if r["reason"] == "duplicate_object"}
    # LVIS names more classes than COCO, so its redrawn masks win; the COCO ones are the rejects
    assert sorted(int(k.rsplit("-", 1)[1]) for k in dups) == sorted(redrawn)
    for key, detail in dups.items():
        image_key, ann = key.rsplit("-", 1)
        assert int(ann) in redrawn and detail.startswith("mask IoU ")
        assert f" with {image_key}-lvis-{1000 + int(ann)} (lvis's, kept)" in detail
    assert not any(r["reason"] == "duplicate_object" and "-lvis-" in r["key"] for r in rejects)
    # the shrunk LVIS objects are other objects: both they and their COCO neighbours go on
    shrunk_keys = {k for k in keys if k.rsplit("-", 1)[-1] in {str(1000 + a) for a in shrunk}}
    assert len(shrunk_keys) == len(shrunk) and not shrunk_keys & set(dups)

    by = report["sources"]
    assert set(by) == {"coco", "lvis", "oi"}
    for k in ("images_in", "images_rejected", "candidates", "pairs"):
        assert sum(r[k] for r in by.values()) == report[k], k
    assert by["lvis"]["images_in"] == 0 and by["oi"]["images_in"] == 1 and by["lvis"]["candidates"] == 18
    assert by["coco"]["dropped"]["propose/duplicate_object"] == len(redrawn)
    assert sum(by["lvis"]["dropped"].values()) + by["lvis"]["pairs"] == 18
    assert {p["dataset"] for p in pairs} == {"coco", "lvis", "oi"}
    text = format_funnel(report)
    assert f"source lvis: 0 images, 0 rejected, 18 candidates, {by['lvis']['pairs']} pairs" in text

    export = str(tmp_path / "pipe")
    result = export_pipe(out, export, test_count=2)
    rows = [r for f in sorted(os.listdir(os.path.join(export, "data")))
            for r in pq.read_table(os.path.join(export, "data", f),
                                   columns=["target_img_dataset", "img_id", "ann_id"]).to_pylist()]
    assert len(rows) == report["pairs"] and result["test_images"] == 2
    proper = {"coco": "COCO", "lvis": "LVIS", "oi": "OpenImages"}
    assert collections.Counter(r["target_img_dataset"] for r in rows) == collections.Counter(
        proper[p["dataset"]] for p in pairs)
    split_of = collections.defaultdict(set)
    for f in os.listdir(os.path.join(export, "data")):
        for r in pq.read_table(os.path.join(export, "data", f), columns=["target_img_dataset", "img_id"]).to_pylist():
            image = ("oi" if r["target_img_dataset"] == "OpenImages" else "coco", r["img_id"])
            split_of[image].add(f.split("-")[0])
    assert all(len(s) == 1 for s in split_of.values())           # an image's pairs, COCO's and LVIS's, in one split
    assert sum("test" in s for s in split_of.values()) == 2


def test_each_kept_pair_is_far_from_every_other_sources_pair_of_its_image(tmp_path):
    lvis, _, _ = _lvis_set(str(tmp_path))
    cfg = _mix_config(tmp_path, lvis, _openimages_set(str(tmp_path / "oi")), merge_prefer="coco,lvis,oi")
    out = str(tmp_path / "out")
    run_build(cfg, out, [], log=lambda *_: None)
    masks = collections.defaultdict(list)
    for k in outputs.finished_shards(out):
        for sample in outputs.iter_samples(out, k):
            meta = json.loads(sample["json"])
            mask = cv2.imdecode(np.frombuffer(sample["mask.png"], np.uint8), cv2.IMREAD_GRAYSCALE) > 0
            masks[meta["image_key"]].append((meta["source"]["dataset"], mask))
    for found in masks.values():
        for i, (a, ma) in enumerate(found):
            for b, mb in found[i + 1:]:
                assert a == b or mask_iou(ma, mb) < cfg.source.merge_iou
    dups = [r for r in _rows(out, "rejects") if r["reason"] == "duplicate_object"]
    assert dups and all("-lvis-" in r["key"] and "(coco's, kept)" in r["detail"] for r in dups)


@pytest.mark.parametrize("shared, item, message", [
    ({}, {"shard_size": 5}, "source.mix[1].shard_size: set it on source"),
    ({}, {"name": "coco"}, "source.mix[1].name: 'coco' is also mix[0]'s"),
    ({"merge_prefer": "lvis,coco"}, {}, "source.merge_prefer: 'lvis,coco'; give finer, or every mix name once"),
    ({"annotations": "x.json"}, {}, "source.annotations: with source.mix, give each source its inputs"),
])
def test_a_bad_mix_is_refused_with_the_key(tmp_path, shared, item, message):
    recipe = {"source": {**shared, "mix": [{"kind": "coco", "name": "coco"},
                                           {"kind": "lvis", "name": "lvis", **item}, {"kind": "coco", "name": "c2"}]}}
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(recipe))
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]").replace("(", r"\(")):
        load_config(str(path))
