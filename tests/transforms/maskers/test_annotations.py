import numpy as np
import pytest
from pycocotools import mask as mask_utils

from configs.schema import Config, ImageConfig
from helpers import circle_polygon
from transforms.core.geometry import bbox_xyxy
from transforms.core.masks import decode_segmentation
from transforms.core.records import StageError as MaskError
from transforms.maskers.annotations import propose_from_annotations
from transforms.core.records import ImageRecord, ObjectRef, Reject


def _square(h=100, w=120):
    m = np.zeros((h, w), bool)
    m[20:60, 30:90] = True
    return m


def test_polygon_uncompressed_and_compressed_rle_decode_to_the_same_mask():
    m = _square()
    poly = [[30, 20, 90, 20, 90, 60, 30, 60]]
    from_poly = decode_segmentation(poly, 100, 120)
    rle = mask_utils.encode(np.asfortranarray(m.astype(np.uint8)))
    compressed = {"size": rle["size"], "counts": rle["counts"].decode()}
    # uncompressed RLE: run lengths in column-major order, starting with zeros
    flat = m.flatten(order="F").astype(np.int8)
    changes = np.flatnonzero(np.diff(np.r_[0, flat, 1 - flat[-1]]))
    counts = np.diff(np.r_[0, changes]).tolist()
    uncompressed = {"size": [100, 120], "counts": counts}
    assert (decode_segmentation(compressed, 100, 120) == m).all()
    assert (decode_segmentation(uncompressed, 100, 120) == m).all()
    assert abs(int(from_poly.sum()) - int(m.sum())) < 200  # polygon rasterisation differs at edges only


@pytest.mark.parametrize("seg, reason", [
    ([[1, 2, 3]], "bad_segmentation"),
    ("not a mask", "bad_segmentation"),
    ({"size": [10, 10], "counts": [100]}, "mask_size_mismatch"),
])
def test_bad_segmentations_have_reasons(seg, reason):
    with pytest.raises(MaskError) as e:
        decode_segmentation(seg, 100, 120)
    assert e.value.reason == reason


def test_bbox_is_xyxy():
    assert bbox_xyxy(_square()) == [30, 20, 90, 60]


def _record(objects, h=400, w=600):
    rec = ImageRecord(key="demo-1", shard=3, uri="", source_id="1", objects=objects)
    rec.image = np.zeros((256, 256, 3), np.uint8)
    rec.orig_hw, rec.scale, rec.offset = (h, w), 256 / h, (0, (round(w * 256 / h) - 256) // 2)
    return rec


def test_propose_moves_masks_through_resize_and_crop_and_rejects_with_reasons():
    cfg = Config(image=ImageConfig(size=256))
    objects = [
        ObjectRef("1", 1, "apple", [circle_polygon(300, 200, 50)]),       # centre: kept whole
        ObjectRef("2", 1, "apple", [circle_polygon(30, 200, 25)]),        # far left: outside the crop
        ObjectRef("3", 1, "apple", [circle_polygon(300, 200, 50)], iscrowd=True),
        ObjectRef("4", 7, "", [circle_polygon(300, 200, 50)]),
        ObjectRef("5", 1, "apple", [[1, 2]]),
    ]
    out = propose_from_annotations(_record(objects), cfg)
    rec, rejects = out[0], {r.key: r.reason for r in out[1:]}
    assert rejects == {"demo-1-2": "outside_crop", "demo-1-3": "iscrowd", "demo-1-4": "unknown_category",
                       "demo-1-5": "bad_segmentation"}
    assert all(isinstance(r, Reject) and r.level == "candidate" and r.shard == 3 for r in out[1:])
    (c,) = rec.candidates
    assert c.mask.shape == (256, 256) and c.scores["crop_kept"] == 1.0
    x1, y1, x2, y2 = c.meta["bbox_xyxy"]
    assert abs((x1 + x2) / 2 - 128) <= 2 and abs((y1 + y2) / 2 - 128) <= 2  # (300,200) is the centre


def test_image_without_objects_is_an_image_reject():
    (r,) = propose_from_annotations(_record([]), Config())
    assert r.level == "image" and r.reason == "no_objects"
