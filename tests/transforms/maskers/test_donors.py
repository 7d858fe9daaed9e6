"""BrushData-v2's donor pass with a model (masks.borrowed.donors): what one image found, how a shard pairs,
and how the propose stage reads the pairing. Pure functions, fake proposals; the graph is tested with tiny
models in tests/pipelines/test_borrowed_donors_e2e.py."""
from __future__ import annotations

import os

import numpy as np
import pytest

from configs.schema import ConfigError, load_config
from helpers import ROOT
from model_wrappers.types import MaskProposal
from transforms.core.masks import decode_segmentation
from transforms.core.records import ImageRecord, Reject, Shapes, reject
from transforms.maskers.borrowed import DONOR, FAILED, FOUND, propose_borrowed
from transforms.maskers.donors import donor_step, dropped, pair_shard, shapes_of, with_pairing

V2 = os.path.join(ROOT, "configs", "brushdata_v2_coco.yaml")


def _cfg(*sets: str):
    return load_config(V2, ["masks.borrowed.donors=sam", "filters.min_pixels=10", *sets])


def _record(key: str = "c-1", shard: int = 0, hw=(40, 50)) -> ImageRecord:
    return ImageRecord(key=key, shard=shard, uri="", source_id=key, image=np.zeros((*hw, 3), np.uint8),
                       orig_hw=hw)


def _box(hw, y0, y1, x0, x1) -> np.ndarray:
    m = np.zeros(hw, bool)
    m[y0:y1, x0:x1] = True
    return m


def test_an_image_counts_every_found_mask_and_lends_those_that_pass_the_filters():
    rec = _record()
    big, tiny_one = _box((40, 50), 0, 10, 0, 20), _box((40, 50), 30, 32, 40, 42)   # 200 px and 4 px
    s = shapes_of(rec, [MaskProposal(big, scores={"sam_iou": 0.9}), MaskProposal(tiny_one)], _cfg())
    assert (s.key, s.shard, s.objects, s.share, s.failed) == ("c-1", 0, 2, round(204 / 2000, 6), None)
    [donor] = s.donors                      # the 4-pixel mask is below filters.min_pixels=10: counted, not lent
    assert donor["ann_id"] == "m000" and donor["masker"] == "sam" and (donor["height"], donor["width"]) == (40, 50)
    assert np.array_equal(decode_segmentation(donor["segmentation"], 40, 50), big)
    assert rec.candidates == []             # nothing of the image is kept for the second pass
    two = _box((40, 50), 20, 40, 20, 50)      # 600 px: with one donor per image, the largest is lent
    s = shapes_of(_record(), [MaskProposal(big), MaskProposal(two)], _cfg("masks.borrowed.max_donors_per_image=1"))
    assert s.objects == 2 and [d["ann_id"] for d in s.donors] == ["m001"]


def _shapes(key: str, n: int, shard: int = 0) -> Shapes:
    donors = [{"ann_id": f"m{i:03d}", "class_name": "x", "segmentation": {}, "height": 1, "width": 1,
               "masker": "sam", "models": ["sam.pth"]} for i in range(n)]
    return Shapes(key, shard, n, 0.01 * n, donors)


def test_a_shard_pairs_each_image_with_another_images_shape_whatever_the_order():
    shapes = [_shapes("a", 2), _shapes("b", 0), _shapes("c", 1), _shapes("d", 3)]
    one = dict(pair_shard((0, shapes), _cfg()))
    assert one == dict(pair_shard((0, shapes[::-1]), _cfg())) == dict(pair_shard((0, shapes[2:] + shapes[:2]), _cfg()))
    assert sorted(one) == ["a", "b", "c", "d"]
    for key, pairing in one.items():
        assert pairing[FOUND]["objects"] == {"a": 2, "b": 0, "c": 1, "d": 3}[key]
        assert pairing[DONOR]["image_key"] != key and pairing[DONOR]["models"] == ["sam.pth"]
    assert dict(pair_shard((0, shapes), _cfg("masks.borrowed.seed=3"))) != one
    # only one image has shapes: it has nobody to borrow from, and brush masks borrow nothing
    alone = dict(pair_shard((0, [_shapes("a", 2), _shapes("b", 0)]), _cfg()))
    assert DONOR not in alone["a"] and alone["b"][DONOR]["image_key"] == "a"
    brush = dict(pair_shard((0, shapes), _cfg("masks.borrowed.source=brush")))
    assert all(set(p) == {FOUND} for p in brush.values())


def test_an_image_the_first_pass_dropped_is_rejected_with_that_reason_by_the_propose_stage():
    rec = _record("c-2")
    failed = dropped(reject(rec, "donors", "no_prompts", "prompt_source=caption"))
    pairing = dict(pair_shard((0, [failed, _shapes("c-1", 1)]), _cfg()))
    assert set(pairing["c-2"]) == {FAILED}
    assert DONOR not in pairing["c-1"]          # a dropped image lends nothing
    joined = with_pairing(("c-2", {"rec": [_record("c-2")], "pairing": [pairing["c-2"]]}))
    [r] = propose_borrowed(joined, _cfg())
    assert isinstance(r, Reject) and (r.stage, r.reason) == ("propose", "no_prompts")
    assert r.detail == "in the donor pass (donors): prompt_source=caption"
    lost = with_pairing(("c-3", {"rec": [_record("c-3")], "pairing": []}))
    assert propose_borrowed(lost, _cfg())[0].reason == "no_shapes"


def test_the_clean_test_reads_what_the_model_found():
    rec = _record()
    rec.meta[FOUND] = {"objects": 3, "share": 0.25}
    [busy] = propose_borrowed(rec, _cfg())
    assert busy.reason == "busy_background"
    assert busy.detail == ("3 objects found by sam cover 0.250 of the frame (masks.borrowed.max_object_share=0.1, "
                           "max_objects=0)")
    assert busy_free(rec, "masks.borrowed.max_objects=3") and busy_free(rec, "masks.borrowed.max_object_share=0.3")
    rec.meta[FOUND] = {"objects": 0, "share": 0.0}
    [r] = propose_borrowed(rec, _cfg())
    assert r.reason == "no_donor" and "source.shard_size=1000" in r.detail


def busy_free(rec: ImageRecord, *sets: str) -> bool:
    """True when the record passes the clean test (it then fails on having no donor)."""
    rec.candidates = []
    return propose_borrowed(rec, _cfg(*sets))[0].reason == "no_donor"


def test_the_borrowed_shape_carries_its_masker_and_models():
    rec = _record()
    rec.meta[FOUND] = {"objects": 0, "share": 0.0}
    shape = _box((40, 50), 5, 25, 5, 30)
    lent = shapes_of(_record("c-9"), [MaskProposal(shape)], _cfg()).donors[0]["segmentation"]
    rec.meta[DONOR] = {"image_key": "c-9", "ann_id": "m001", "class_name": "cup", "height": 40, "width": 50,
                       "segmentation": lent, "masker": "sam", "models": ["sam.pth"]}
    [out] = propose_borrowed(rec, _cfg())
    [c] = out.candidates
    assert c.meta["masks"]["from"]["masker"] == "sam" and c.meta["models"] == {"masks": ["sam.pth"]}
    area = c.mask.mean()
    assert 0.05 * 0.8 <= area <= 0.3 * 1.2      # scaled to masks.borrowed.min/max_area_ratio (rounding aside)


def test_the_donor_pass_runs_only_for_model_donors_and_the_key_is_checked():
    assert donor_step(load_config(V2)) is None                     # annotations: chosen while planning
    assert donor_step(_cfg()).family == "sam"
    assert donor_step(_cfg("masks.borrowed.donors=grounded_sam", "masks.grounding.prompt_source=categories")
                      ).family == "grounded_sam"
    assert donor_step(load_config(V2, ["masks.kind=brush", "masks.borrowed.donors=sam"])) is None
    with pytest.raises(ConfigError, match=r"masks\.borrowed\.donors"):
        load_config(V2, ["masks.borrowed.donors=dino"])
    with pytest.raises(ConfigError, match=r"masks\.borrowed\.max_donors_per_image"):
        _cfg("masks.borrowed.max_donors_per_image=0")
    with pytest.raises(ConfigError, match=r"masks\.grounding\.prompts"):
        load_config(V2, ["masks.borrowed.donors=grounded_sam", "masks.grounding.prompt_source=config"])
