"""A URL table is planned as Arrow rows: each shard's rows are written as they are (OUT/plan/NNNNNN.parquet,
with the source config they are made with), and the worker makes the shard's entries from them, the same
entries the whole-table path makes. Tables whose columns differ in type are promoted, or planned as entries
where no common type exists; a plan stored as JSON by an earlier version is still read."""
from __future__ import annotations

import json
import os
import shutil

import pyarrow as pa
import pyarrow.parquet as pq

from helpers import DEMO_CONFIG, DEMO_DATA
from configs.schema import load_config
from pipelines import outputs
from pipelines.plan import input_fingerprint, plan_text, planned_shards, read_entries, shard_digest, write_inputs
from pipelines.run import run_build
from transforms.sources import plan_source

NAMES = sorted(os.listdir(os.path.join(DEMO_DATA, "images")))


def _tables(tmp_path, second: dict) -> list[str]:
    """Two tables of the demo photos' relative paths beside them; ``second``: columns of the second."""
    shutil.copytree(os.path.join(DEMO_DATA, "images"), tmp_path / "images")
    a, b = tmp_path / "part-0.parquet", tmp_path / "part-1.parquet"
    pq.write_table(pa.table({"url": [f"images/{n}" for n in NAMES[:4]], "caption": ["a cat", "a dog", "", "x"],
                             "width": [640, 480, 10, 20]}), a)
    pq.write_table(pa.table({"url": [f"images/{n}" for n in NAMES[4:]], **second}), b)
    return [str(a), str(b)]


def _config(tmp_path, *sets):
    return load_config(DEMO_CONFIG, ["source.kind=url_table", f"source.annotations={tmp_path}/part-*.parquet",
                                     "source.name=u", "source.shard_size=3", "masks.kind=brush", *sets])


def _json(entries) -> list:
    return [e.to_json() for e in entries]


def test_a_url_tables_plan_is_its_rows_and_the_workers_entries_are_the_whole_tables(tmp_path):
    _tables(tmp_path, {"caption": ["an apple and a cat", None, "a red car"], "width": [1.0, None, 300.0]})
    cfg = _config(tmp_path, "source.licence=cc0", "source.max_caption_classes=1")   # widths promoted to float
    out = str(tmp_path / "out")
    report = run_build(cfg, out, [], log=lambda *_: None)
    names = sorted(os.listdir(os.path.join(out, "plan")))
    assert names == ["000000.parquet", "000001.parquet", "000002.parquet", "inputs.json"]
    whole = plan_source(cfg.source)                                 # the entries path, all in the driver
    assert [_json(read_entries(out, k)) for k in planned_shards(out)] == [_json(s) for s in whole]
    rows = pq.read_table(os.path.join(out, "plan", "000001.parquet"))
    assert rows.num_rows == 3 and rows.column("row").to_pylist() == [3, 0, 1]   # across the two tables
    made_with = json.loads(rows.schema.metadata[b"inpaint_pairs.source"])
    assert made_with == {"kind": "url_table", "name": "u", "licence": "cc0", "allow_local_files": False,
                         "vocabulary": "lvis", "max_caption_classes": 1}   # no other key: no machine's path
    assert [o["class_name"] for o in read_entries(out, 1)[1].objects] == ["apple"]   # one class kept
    assert report["images_in"] == 7 and report["pairs"] > 0
    clean = str(tmp_path / "again")
    run_build(cfg, clean, [], log=lambda *_: None)
    for k in range(3):
        assert open(f"{out}/plan/{k:06d}.parquet", "rb").read() == open(f"{clean}/plan/{k:06d}.parquet", "rb").read()
        assert open(f"{out}/shards/{k:06d}.tar", "rb").read() == open(f"{clean}/shards/{k:06d}.tar", "rb").read()


def test_tables_no_one_type_holds_are_planned_as_entries(tmp_path):
    _tables(tmp_path, {"caption": [1, 2, 3]})                        # text in one table, numbers in the other
    cfg = _config(tmp_path)
    out = str(tmp_path / "out")
    run_build(cfg, out, [], log=lambda *_: None)
    assert sorted(os.listdir(os.path.join(out, "plan")))[:3] == ["000000.json", "000001.json", "000002.json"]
    assert [e.meta["caption"] for k in planned_shards(out) for e in read_entries(out, k)][4:] == ["1", "2", "3"]


def test_a_url_table_output_planned_as_json_resumes_and_a_replan_replaces_its_files(tmp_path):
    _tables(tmp_path, {"caption": ["an apple", "b", "c"]})
    cfg = _config(tmp_path)
    out = str(tmp_path / "out")
    run_build(cfg, out, [], log=lambda *_: None, part=(0, 3))         # shard 0 built, then written as JSON:
    shards = plan_source(cfg.source)                                 # what an earlier version left
    for k, entries in enumerate(shards):
        os.remove(os.path.join(out, "plan", f"{k:06d}.parquet"))
        with open(os.path.join(out, "plan", f"{k:06d}.json"), "wb") as f:
            f.write(plan_text(k, entries))
    write_inputs(out, input_fingerprint(cfg.source), [shard_digest(k, e) for k, e in enumerate(shards)],
                 [len(e) for e in shards])
    lines = []
    run_build(cfg, out, [], log=lines.append)
    assert any("the stored plan stands" in line and "1 already done, 2 to build" in line for line in lines)
    assert outputs.finished_shards(out) == [0, 1, 2]
    os.remove(os.path.join(out, "shards", "000002.stats.json"))      # as if killed before shard 2 committed
    with open(tmp_path / "part-1.parquet", "ab"):
        pass
    os.utime(tmp_path / "part-1.parquet", (1, 1))                    # the inputs' times changed: planned again
    lines.clear()
    run_build(cfg, out, [], log=lines.append, replan=True)
    assert sorted(os.listdir(os.path.join(out, "plan")))[:3] == ["000000.parquet", "000001.parquet", "000002.parquet"]
    assert not [n for n in os.listdir(os.path.join(out, "plan")) if n.endswith(".json") and n[0] == "0"]


def test_open_images_rows_are_planned_by_image_and_give_the_entries_paths_entries(tmp_path):
    import cv2
    import numpy as np
    from helpers import write_openimages
    square = np.zeros((48, 64), bool)
    square[8:30, 10:40] = True
    ids = [f"{i:016x}" for i in (9, 2, 5, 2, 7, 9, 9, 3)]              # out of order, several masks an image
    masks = {f"{image_id}_m0{j}_{j:08x}.png": (image_id, "/m/01", square) for j, image_id in enumerate(ids)}
    src = write_openimages(str(tmp_path / "oi"), masks, {"/m/01": "Cat"})
    for image_id in set(ids):
        cv2.imwrite(os.path.join(src.images, f"{image_id}.jpg"), np.full((48, 64, 3), 128, np.uint8))
    cfg = load_config(DEMO_CONFIG, ["source.kind=openimages", f"source.annotations={src.annotations}",
                                    f"source.images={src.images}", f"source.masks={src.masks}",
                                    f"source.classes={src.classes}", "source.name=oi", "source.shard_size=2",
                                    "image.size=64", "image.min_side=16"])
    out = str(tmp_path / "out")
    report = run_build(cfg, out, [], log=lambda *_: None)
    assert sorted(n for n in os.listdir(os.path.join(out, "plan")) if n[0] == "0") == \
        ["000000.parquet", "000001.parquet", "000002.parquet"]       # 5 images in shards of 2 images
    assert read_inputs_images(out) == [2, 2, 1] and report["images_in"] == 5
    whole = plan_source(cfg.source)
    assert [_json(read_entries(out, k)) for k in planned_shards(out)] == [_json(s) for s in whole]
    assert [len(e.objects) for s in whole for e in s] == [2, 1, 1, 1, 3]


def read_inputs_images(out: str) -> list[int]:
    with open(os.path.join(out, "plan", "inputs.json")) as f:
        return json.load(f)["images"]
