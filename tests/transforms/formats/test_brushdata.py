"""BrushData output: run-length forms round-trip, shards read back with HF datasets the way BrushNet's
trainer reads them (bytes members, masks decoded at height x width)."""
from __future__ import annotations

import json

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from configs.schema import FilterConfig, load_config
from helpers import DEMO_CONFIG
from transforms.formats.brushdata import (brushnet_runs, coco_rle, decode_brushnet_runs, encode_brushdata,
                                         filter_image, union_mask)
from transforms.formats import FORMATS
from transforms.core.masks import decode_segmentation
from transforms.maskers.candidates import make_candidate
from transforms.core.records import ImageRecord, ObjectRef, Reject
from transforms.stages.write import write_shard


def brushnet_rle2mask(runs: list[int], h: int, w: int) -> np.ndarray:
    """The reader's contract, as BrushNet's train_brushnet.py states it: 1-based starts, column-major."""
    starts, lengths = np.asarray(runs[0::2]) - 1, np.asarray(runs[1::2])
    img = np.zeros(h * w, np.uint8)
    for lo, n in zip(starts, lengths):
        img[lo: lo + n] = 1
    return img.reshape((h, w), order="F").astype(bool)


@pytest.mark.parametrize("seed", range(4))
def test_both_run_length_forms_round_trip(seed):
    rng = np.random.default_rng(seed)
    h, w = rng.integers(1, 40, 2)
    for m in (rng.random((h, w)) < 0.3, np.zeros((h, w), bool), np.ones((h, w), bool)):
        runs = brushnet_runs(m)
        assert np.array_equal(decode_brushnet_runs(runs, h, w), m)
        assert np.array_equal(brushnet_rle2mask(runs, h, w), m)
        rle = coco_rle(m)
        assert json.loads(json.dumps(rle)) == rle and rle["size"] == [h, w]
        assert np.array_equal(decode_segmentation(rle, h, w), m)
    corner = np.zeros((5, 7), bool)
    corner[-1, -1] = True
    assert brushnet_runs(corner) == [35, 1]


def image_with_masks(key: str, shard: int, boxes: list[tuple], caption: str = "a cat and a dog") -> ImageRecord:
    rng = np.random.default_rng(len(key))
    rec = ImageRecord(key, shard, "", key, meta={"caption": caption, "dataset": "t", "url": f"http://x/{key}.jpg"},
                      image=rng.integers(0, 255, (60, 90, 3), np.uint8), orig_hw=(60, 90))
    for i, (y0, y1, x0, x1) in enumerate(boxes):
        m = np.zeros((60, 90), bool)
        m[y0:y1, x0:x1] = True
        obj = ObjectRef(f"m{i:03d}", i, ["cat", "dog", "cup"][i % 3], scores={"sam_iou": 0.9 - 0.5 * (i == 2)})
        rec.candidates.append(make_candidate(rec, obj, m, 1.0))
    return rec


def test_the_filter_keeps_an_image_whole_and_rejects_each_dropped_mask():
    rec = image_with_masks("t-1", 0, [(10, 30, 10, 40), (5, 50, 50, 85), (20, 40, 20, 40)])
    out = filter_image(rec, FilterConfig(min_sam_iou=0.5, max_border_touch=1.0))
    assert out[0] is rec and [c.class_name for c in rec.candidates] == ["dog", "cat"]  # largest first
    assert [(r.key, r.reason) for r in out[1:] if isinstance(r, Reject)] == [("t-1-m002", "low_sam_iou")]
    none_left = filter_image(image_with_masks("t-2", 0, [(0, 2, 0, 2)]), FilterConfig())
    assert all(isinstance(r, Reject) for r in none_left)


def test_shards_read_back_with_hf_datasets_as_brushnet_reads_them(tmp_path):
    datasets = pytest.importorskip("datasets")
    cfg = load_config(DEMO_CONFIG, ["output.format=brushdata"])
    recs = [image_with_masks("t-1", 0, [(10, 30, 10, 40), (5, 50, 50, 85)]),
            image_with_masks("t-2", 0, [(0, 60, 0, 10)], caption="")]
    pairs = [encode_brushdata(r, cfg) for r in recs]
    stats = write_shard(str(tmp_path), 0, ["t-1", "t-2"], pairs, [], FORMATS["brushdata"].schema)
    assert stats["pairs"] == 2 and stats["candidates"] == 3 and stats["lost_images"] == []
    ds = datasets.load_dataset("webdataset", data_files={"train": str(tmp_path / "shards" / "*.tar")},
                               split="train", cache_dir=str(tmp_path / "hf"))
    assert {"image", "caption", "height", "width", "segmentation", "json"} <= set(ds.column_names)
    for row, rec in zip(ds, recs):
        h, w = int(row["height"].decode()), int(row["width"].decode())  # BrushNet: int(example["height"].decode())
        assert (h, w) == (60, 90) and row["caption"].decode() == rec.meta["caption"]
        seg = json.loads(row["segmentation"])
        assert seg["class"] == [c.class_name for c in rec.candidates]
        for runs, rle, c in zip(seg["mask"], seg["rle"], rec.candidates):
            assert np.array_equal(brushnet_rle2mask(runs, h, w), c.mask)
            assert np.array_equal(mask_utils.decode({"size": rle["size"], "counts": rle["counts"].encode()}), c.mask)
        assert union_mask(row["segmentation"]).shape == (h, w)
        assert row["json"]["url"] == rec.meta["url"]
    import pyarrow.parquet as pq
    table = pq.read_table(tmp_path / "shards" / "000000.parquet")
    assert table.schema.equals(FORMATS["brushdata"].schema) and table.column("num_masks").to_pylist() == [2, 1]
