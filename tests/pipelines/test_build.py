"""End-to-end: the demo config on Beam, read back through real readers."""
from __future__ import annotations

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

from helpers import DEMO_DATA, demo_config
from pipelines.run import run_build
from transforms.core.geometry import dilate

MEMBERS = {"source.jpg", "target.jpg", "mask.png", "txt", "json"}


def _outputs(out: str) -> dict[str, bytes]:
    """Every tar and parquet file of an output, by relative path."""
    files = sorted(glob.glob(f"{out}/shards/*.tar") + glob.glob(f"{out}/shards/*.parquet")
                   + glob.glob(f"{out}/rejects/*.parquet"))
    return {os.path.relpath(f, out): open(f, "rb").read() for f in files}


def _samples(out: str) -> list[dict]:
    return list(wds.WebDataset(sorted(glob.glob(f"{out}/shards/*.tar")), shardshuffle=False))


def _table(out: str, folder: str):
    return pq.read_table(sorted(glob.glob(f"{out}/{folder}/*.parquet"))).to_pylist()


def test_every_image_and_annotation_ends_as_a_pair_or_a_reject(demo_build):
    out, report = demo_build
    coco = json.load(open(os.path.join(DEMO_DATA, "instances.json")))
    samples, rows, rejects = _samples(out), _table(out, "shards"), _table(out, "rejects")
    assert report["images_in"] == len(coco["images"]) and report["lost_images"] == []
    image_rejected = {r["image_key"] for r in rejects if r["level"] == "image"}
    expected = {f"demo-{a['image_id']:012d}-{a['id']}" for a in coco["annotations"]
                if f"demo-{a['image_id']:012d}" not in image_rejected}
    candidate_rejects = {r["key"] for r in rejects if r["level"] == "candidate"}
    pairs = {s["__key__"] for s in samples}
    assert pairs.isdisjoint(candidate_rejects) and pairs | candidate_rejects == expected
    assert report["candidates"] == len(expected) and report["pairs"] == len(pairs) == len(rows)
    assert {r["key"] for r in rows} == pairs
    assert report["pairs"] >= 6, "the demo should yield pairs from most of its objects"
    assert any(r["reason"] == "iscrowd" for r in rejects)
    dropped = sum(sum(s["candidates_dropped"].values()) + sum(s["images_dropped"].values())
                  for s in report["stages"])
    assert dropped == len(rejects)
    assert report["stages"][-1]["candidates_kept"] == report["pairs"]
    assert [r["stage"] for r in report["stages"]] == [  # the stages this recipe runs, no others
        "read", "load", "propose", "filter", "remove", "blend", "instruct", "encode", "write"]
    assert not any(r["reason"] == "error" for r in rejects), rejects


def test_samples_have_the_contract_members_and_decode(demo_build):
    out, _ = demo_build
    for s in _samples(out):
        assert set(s) - {"__key__", "__url__", "__local_path__"} == MEMBERS
        assert "." not in s["__key__"]
        src = np.asarray(Image.open(io.BytesIO(s["source.jpg"])))
        tgt = np.asarray(Image.open(io.BytesIO(s["target.jpg"])))
        mask = np.asarray(Image.open(io.BytesIO(s["mask.png"])))
        assert src.shape == tgt.shape == (512, 512, 3) and mask.shape == (512, 512)
        assert set(np.unique(mask)) == {0, 255}
        meta = json.loads(s["json"])
        assert s["txt"].decode() == meta["instructions"]["add"]
        assert meta["instructions"]["remove"].startswith("remove the ")
        assert {"class", "bbox_xyxy", "location", "scores", "source", "licence", "removal"} <= set(meta)
        assert {"area_ratio", "border_touch", "component_share", "crop_kept"} <= set(meta["scores"])


def test_jpg_source_equals_target_away_from_the_dilated_mask(demo_build):
    out, _ = demo_build
    for s in _samples(out):
        src = np.asarray(Image.open(io.BytesIO(s["source.jpg"])))
        tgt = np.asarray(Image.open(io.BytesIO(s["target.jpg"])))
        mask = np.asarray(Image.open(io.BytesIO(s["mask.png"]))) > 0
        dilated = dilate(mask, demo_config().removal.dilate)
        far = cv2.distanceTransform((~dilated).astype(np.uint8), cv2.DIST_L2, 5) > 16
        assert (src[far] == tgt[far]).all()
        assert (src[mask] != tgt[mask]).any()


def test_png_source_equals_target_exactly_outside_the_dilated_mask(tmp_path):
    out = str(tmp_path / "png")
    run_build(demo_config("output.image_format=png", "source.limit=3"), out, [], log=lambda *_: None)
    samples = _samples(out)
    assert samples
    for s in samples:
        src = np.asarray(Image.open(io.BytesIO(s["source.png"])))
        tgt = np.asarray(Image.open(io.BytesIO(s["target.png"])))
        mask = np.asarray(Image.open(io.BytesIO(s["mask.png"]))) > 0
        outside = ~dilate(mask, demo_config().removal.dilate)
        assert (src[outside] == tgt[outside]).all() and mask.any()


def test_shards_load_with_hf_datasets(demo_build):
    datasets = pytest.importorskip("datasets")
    out, report = demo_build
    ds = datasets.load_dataset("webdataset", data_files={"train": sorted(glob.glob(f"{out}/shards/*.tar"))},
                               split="train")
    assert len(ds) == report["pairs"]
    row = ds[0]
    assert row["source.jpg"].size == (512, 512) and row["mask.png"].mode in ("L", "1")
    assert row["json"]["instructions"]["add"] == row["txt"]


def test_same_config_twice_gives_the_same_bytes_and_two_workers_too(demo_build, tmp_path):
    out, _ = demo_build
    again = str(tmp_path / "again")
    run_build(demo_config(), again, ["--direct_num_workers=2"], log=lambda *_: None)
    a, b = _outputs(out), _outputs(again)
    assert a.keys() == b.keys() and len(a) >= 6
    assert a == b


def test_rerun_skips_finished_shards_and_keeps_unrelated_files(demo_build, copy_of):
    out = copy_of(demo_build[0])
    with open(os.path.join(out, "notes.txt"), "w") as f:
        f.write("mine")
    before = {p: os.stat(p).st_mtime_ns for p in glob.glob(f"{out}/shards/*")}
    lines = []
    report = run_build(demo_config(), out, [], log=lines.append)
    assert "0 to build" in lines[0]
    assert {p: os.stat(p).st_mtime_ns for p in glob.glob(f"{out}/shards/*")} == before
    assert open(os.path.join(out, "notes.txt")).read() == "mine"
    assert report["pairs"] == demo_build[1]["pairs"]


def test_output_of_another_config_is_refused(demo_build, copy_of):
    from configs.schema import ConfigError
    out = copy_of(demo_build[0])
    with pytest.raises(ConfigError, match="different config"):
        run_build(demo_config("filters.max_objects=1"), out, [], log=lambda *_: None)


def test_a_config_recorded_before_a_key_was_added_resumes_and_a_changed_one_is_refused(demo_build, copy_of):
    """An upgrade adds keys with defaults: the config.yaml of an older run lacks them and still names the same
    config (it resumes, untouched); one whose recorded value differs from the current one is refused."""
    import yaml
    from configs.schema import ConfigError
    out = copy_of(demo_build[0])
    path = os.path.join(out, "config.yaml")
    older = yaml.safe_load(open(path).read())
    del older["masks"]["borrowed"]["donors"], older["masks"]["borrowed"]["max_donors_per_image"]
    text = yaml.safe_dump(older, sort_keys=False)
    open(path, "w").write(text)
    before = {p: os.stat(p).st_mtime_ns for p in glob.glob(f"{out}/shards/*")}
    lines = []
    run_build(demo_config(), out, [], log=lines.append)
    assert "0 to build" in lines[0] and open(path).read() == text
    assert {p: os.stat(p).st_mtime_ns for p in glob.glob(f"{out}/shards/*")} == before
    older["masks"]["borrowed"]["seed"] = 7
    open(path, "w").write(yaml.safe_dump(older, sort_keys=False))
    with pytest.raises(ConfigError, match="different config"):
        run_build(demo_config(), out, [], log=lambda *_: None)


def test_a_deleted_stats_file_rebuilds_that_shard_to_the_same_bytes(demo_build, copy_of):
    out = copy_of(demo_build[0])
    os.remove(os.path.join(out, "shards", "000001.stats.json"))
    os.remove(os.path.join(out, "shards", "000001.tar"))
    run_build(demo_config(), out, [], log=lambda *_: None)
    assert _outputs(out) == _outputs(demo_build[0])
