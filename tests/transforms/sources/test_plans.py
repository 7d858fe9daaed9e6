"""Plans of the new sources from inputs written by the test: URL tables (parquet, CSV, TSV), img2dataset tar
shards written with webdataset's TarWriter, image folders, Open Images' CSVs and mask PNGs. Each plan is
JSON-able, deterministic, and its uris load."""
from __future__ import annotations

import json
import os

import cv2
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import webdataset as wds

from configs.schema import ConfigError, FetchConfig, ImageConfig, SourceConfig
from helpers import write_openimages
from web import NAMES, photo
from transforms.stages.load import load_image
from transforms.core.records import ImageRecord, Reject
from transforms.sources.webdataset import scan_tar
from transforms.core.records import PlanEntry
from transforms.sources import plan_source


def plan(**kw) -> list[dict]:
    entries = [e.to_json() for shard in plan_source(SourceConfig(**{"name": "t", **kw})) for e in shard]
    json.dumps(entries)  # plan entries stay JSON-able
    return entries


def classes(entry: dict) -> list[str]:
    return [o["class_name"] for o in entry["objects"]]


def test_url_table_rows_become_entries_with_caption_classes(tmp_path):
    local = tmp_path / "imgs" / NAMES[0]
    local.parent.mkdir()
    local.write_bytes(photo(NAMES[0]))
    pq.write_table(pa.table({
        "URL": ["http://127.0.0.1:9/a.jpg", f"file://{local}", "imgs/" + NAMES[0], "", "data:image/png;base64,x"],
        "TEXT": ["Two cats and a dog on a sofa", "a red apple", None, "x", "y"],
        "WIDTH": [640, 10, None, 1, 1], "HEIGHT": [480, 20, None, 1, 1], "LICENSE": ["cc-by", "", "", "", ""]}),
        tmp_path / "part-0.parquet")
    entries = plan(kind="url_table", annotations=str(tmp_path / "part-0.parquet"), url_column="url",
                   caption_column="TEXT")
    assert [e["key"] for e in entries] == [f"t-0000-00000000{i}" for i in range(5)]
    first = entries[0]
    assert first["uri"] == "http://127.0.0.1:9/a.jpg" and classes(first) == ["cat", "dog", "couch"]
    assert first["meta"]["caption"] == "Two cats and a dog on a sofa" and first["meta"]["licence"] == "cc-by"
    assert first["meta"]["listed_size_hw"] == [480, 640] and "width" not in first["meta"]
    assert entries[2]["uri"] == str(local) and classes(entries[2]) == []
    assert [e["meta"].get("reject", {}).get("reason") for e in entries] == \
        [None, "local_path_refused", None, "no_url", "bad_scheme"]   # file:// only with source.allow_local_files
    assert isinstance(load_image(PlanEntry.from_json(entries[2]).to_record(0), ImageConfig(size=64)), ImageRecord)
    opted = plan(kind="url_table", annotations=str(tmp_path / "part-0.parquet"), url_column="url",
                 caption_column="TEXT", allow_local_files=True)
    assert "reject" not in opted[1]["meta"]
    assert isinstance(load_image(PlanEntry.from_json(opted[1]).to_record(0), ImageConfig(size=64)), ImageRecord)


def test_csv_and_tsv_tables_their_limit_and_column_errors(tmp_path):
    (tmp_path / "a.csv").write_text('url,caption\nhttp://h/1.jpg,"a bus, a truck"\nhttp://h/2.jpg,\n')
    (tmp_path / "b.tsv").write_text("url\tcaption\nhttp://h/3.jpg\ta horse\n")
    entries = plan(kind="url_table", annotations=str(tmp_path / "*"), limit=0)
    assert [e["uri"] for e in entries] == ["http://h/1.jpg", "http://h/2.jpg", "http://h/3.jpg"]
    assert [classes(e) for e in entries] == [["bus", "truck"], [], ["horse"]]
    assert len(plan(kind="url_table", annotations=str(tmp_path), limit=2)) == 2
    with pytest.raises(ConfigError, match="source.caption_column: no column 'TEXT'"):
        plan(kind="url_table", annotations=str(tmp_path / "a.csv"), caption_column="TEXT")
    with pytest.raises(ConfigError, match="source.annotations: no parquet/csv/tsv file"):
        plan(kind="url_table", annotations=str(tmp_path / "none-*.parquet"))


def test_laion_parquet_is_an_alias_of_url_table_and_an_unknown_kind_names_both(tmp_path):
    (tmp_path / "a.csv").write_text('url,caption,aesthetic\nhttp://h/1.jpg,a bus,6\nhttp://h/2.jpg,a cat,4\n')
    for kw in ({}, {"where": "aesthetic >= 5"}):
        assert plan(kind="laion_parquet", annotations=str(tmp_path), **kw) == \
            plan(kind="url_table", annotations=str(tmp_path), **kw)
    with pytest.raises(ConfigError, match=r"source.kind: 'laion' is not allowed; choose one of .*url_table.* "
                                          r"\(also accepted: laion_parquet \(= url_table\)\)"):
        plan(kind="laion", annotations=str(tmp_path))


def write_img2dataset_shard(path: str, first: int, n: int) -> None:
    """An img2dataset-format shard: KEY.jpg + KEY.txt + KEY.json per sample."""
    with wds.TarWriter(path) as sink:
        for i in range(first, first + n):
            name = NAMES[i % len(NAMES)]
            key = f"{i:09d}"
            sink.write({"__key__": key, "jpg": photo(name), "txt": f"a photo of a cat number {i}",
                        "json": json.dumps({"url": f"http://x/{name}", "key": key, "status": "success",
                                            "width": 8, "height": 6}).encode()})


def test_img2dataset_shards_are_read_back_by_byte_range(tmp_path):
    write_img2dataset_shard(str(tmp_path / "00000.tar"), 0, 3)
    write_img2dataset_shard(str(tmp_path / "00001.tar"), 3, 2)
    for spec in (str(tmp_path), str(tmp_path / "{00000..00001}.tar"), str(tmp_path / "*.tar")):
        entries = plan(kind="webdataset", images=spec)
        assert [e["source_id"] for e in entries] == [f"{i:09d}" for i in range(5)], spec
    assert entries[3]["key"] == "t-00001-000000003" and classes(entries[3]) == ["cat"]
    assert entries[0]["meta"]["url"] == f"http://x/{NAMES[0]}" and entries[0]["meta"]["listed_size_hw"] == [6, 8]
    cfg = ImageConfig(size=64, resize="none", min_side=16)
    for i, e in enumerate(entries):
        rec = load_image(PlanEntry.from_json(e).to_record(0), cfg)
        want = cv2.imdecode(np.frombuffer(photo(NAMES[i % len(NAMES)]), np.uint8), cv2.IMREAD_COLOR)
        assert rec.image.shape == want.shape


def test_a_sample_without_image_and_a_compressed_tar(tmp_path):
    with wds.TarWriter(str(tmp_path / "a.tar")) as sink:
        sink.write({"__key__": "000000000", "txt": "no picture", "json": b"{}"})
    (e,) = plan(kind="webdataset", images=str(tmp_path / "a.tar"))
    assert e["meta"]["reject"]["reason"] == "no_image"
    out = load_image(PlanEntry.from_json(e).to_record(0), ImageConfig())
    assert isinstance(out, Reject) and (out.stage, out.reason) == ("read", "no_image")
    with wds.TarWriter(str(tmp_path / "b.tar.gz")) as sink:
        sink.write({"__key__": "1", "jpg": photo(NAMES[0])})
    with pytest.raises(ConfigError, match="uncompressed tar"):
        scan_tar(str(tmp_path / "b.tar.gz"))


def test_folder_tree_with_sidecar_captions(tmp_path):
    (tmp_path / "sub" / "deep").mkdir(parents=True)
    for rel in ("z.jpg", "sub/a.png", "sub/deep/b.jpeg", ".hidden.jpg", "sub_a.jpg"):
        (tmp_path / rel).write_bytes(photo(NAMES[0]))
    (tmp_path / "sub" / "a.txt").write_text("a  dog\nwith a frisbee ")
    (tmp_path / "notes.md").write_text("not an image")
    entries = plan(kind="folder", images=str(tmp_path))
    assert [e["source_id"] for e in entries] == ["sub/a.png", "sub/deep/b.jpeg", "sub_a.jpg", "z.jpg"]
    assert [e["key"] for e in entries] == ["t-sub_a", "t-sub_deep_b", "t-sub_a-dup-1", "t-z"]
    assert entries[2]["meta"]["reject"]["reason"] == "key_collision"
    assert entries[0]["meta"]["caption"] == "a dog with a frisbee" and classes(entries[0]) == ["dog", "frisbee"]
    with pytest.raises(ConfigError, match="source.images: folder not found"):
        plan(kind="folder", images=str(tmp_path / "nope"))


@pytest.mark.parametrize("header", [True, False])
def test_openimages_rows_grouped_by_image_with_readable_names(tmp_path, header):
    m = np.zeros((30, 40), bool)
    m[5:20, 10:30] = True
    cfg = write_openimages(tmp_path, {"0012ab_m01g317_aaaa1111.png": ("0012ab", "/m/01g317", m),
                                      "0012ab_m0zzz_bbbb2222.png": ("0012ab", "/m/0zzz", m),
                                      "000001_m0bt9lr_cccc3333.png": ("000001", "/m/0bt9lr", m)},
                          {"/m/0bt9lr": "Dog", "/m/01g317": "Person"}, header)
    entries = [e.to_json() for shard in plan_source(cfg) for e in shard]
    assert [e["source_id"] for e in entries] == ["000001", "0012ab"]  # ids stay text, sorted
    assert entries[1]["key"] == "oi-0012ab" and entries[1]["uri"].endswith("images/0012ab.jpg")
    objs = entries[1]["objects"]
    assert [(o["ann_id"], o["class_name"], o["category_id"]) for o in objs] == [
        ("m01g317_aaaa1111", "person", 1), ("m0zzz_bbbb2222", "", -1)]
    assert objs[0]["scores"] == {"predicted_iou": 0.87}
    assert objs[0]["segmentation"]["mask_png"].endswith("masks/0012ab_m01g317_aaaa1111.png")


def test_openimages_masks_are_read_by_the_load_stage_in_the_image_frame(tmp_path):
    cv2.imwrite(str(tmp_path / "x.jpg"), np.zeros((60, 80, 3), np.uint8))
    half = np.zeros((30, 40), bool)
    half[10:20, 10:30] = True  # mask PNGs may be smaller than the image: scaled to it
    cfg = write_openimages(tmp_path, {"ab_m01_c1.png": ("ab", "/m/01", half), "ab_m01_c2.png": ("ab", "/m/01", half)},
                           {"/m/01": "Cat"})
    os.replace(tmp_path / "x.jpg", tmp_path / "images" / "ab.jpg")
    os.remove(tmp_path / "masks" / "ab_m01_c2.png")
    (entry,) = plan_source(cfg)[0]
    out = load_image(entry.to_record(0), ImageConfig(size=60, resize="none", min_side=16, fetch=FetchConfig()))
    rec, reject = out
    assert rec.objects[0].segmentation.shape == (60, 80) and rec.objects[0].segmentation.sum() == 20 * 40
    assert (reject.level, reject.stage, reject.reason, reject.key) == ("candidate", "load", "mask_file_missing",
                                                                      "oi-ab-m01_c2")
