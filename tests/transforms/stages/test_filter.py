import numpy as np
import pytest

from configs.schema import FilterConfig
from transforms.stages.filter import filter_candidates, mask_scores
from transforms.core.records import Candidate, ImageRecord


def _cand(mask, key="k-1", crop_kept=1.0):
    return Candidate(key=key, shard=0, image_key="k", class_name="x", category_id=1,
                     image=np.zeros(mask.shape + (3,), np.uint8), mask=mask, scores={"crop_kept": crop_kept})


def _box(y0, y1, x0, x1, shape=(100, 100)):
    m = np.zeros(shape, bool)
    m[y0:y1, x0:x1] = True
    return m


def test_mask_scores():
    s = mask_scores(_box(10, 30, 10, 30))
    assert s["area_ratio"] == 0.04 and s["pixels"] == 400 and s["border_touch"] == 0.0
    assert s["component_share"] == 1.0
    two = _box(10, 30, 10, 30) | _box(60, 70, 60, 70)
    assert mask_scores(two)["component_share"] == pytest.approx(400 / 500)
    edge = _box(0, 20, 40, 60)  # top side on the frame: 20 of 76 outline pixels
    assert mask_scores(edge)["border_touch"] == pytest.approx(20 / 76, abs=1e-6)


@pytest.mark.parametrize("mask, crop_kept, reason", [
    (_box(10, 30, 10, 30), 0.5, "cut_by_crop"),
    (_box(10, 12, 10, 12), 1.0, "too_few_pixels"),
    (_box(10, 80, 10, 90), 1.0, "area_too_large"),
    (_box(0, 30, 0, 30), 1.0, "touches_border"),
    (_box(10, 30, 10, 30) | _box(50, 70, 50, 70), 1.0, "fragmented"),
    (_box(10, 30, 10, 30), 1.0, None),
])
def test_each_rule_names_its_reason(mask, crop_kept, reason):
    cfg = FilterConfig(min_pixels=10, min_area_ratio=0.01, max_area_ratio=0.5, max_border_touch=0.3,
                       min_component_share=0.8, min_crop_kept=0.9, max_objects=0)
    rec = ImageRecord(key="k", shard=0, uri="", source_id="1", candidates=[_cand(mask, crop_kept=crop_kept)])
    (out,) = filter_candidates(rec, cfg)
    assert (getattr(out, "reason", None)) == reason
    assert "area_ratio" in (out.scores if reason is None else {"area_ratio": 1})


def test_threshold_edges_are_inclusive():
    m = _box(10, 30, 10, 30)  # area ratio exactly 0.04
    keep = FilterConfig(min_pixels=1, min_area_ratio=0.04, max_area_ratio=0.04, max_objects=0)
    rec = ImageRecord(key="k", shard=0, uri="", source_id="1", candidates=[_cand(m)])
    assert isinstance(filter_candidates(rec, keep)[0], Candidate)


def test_max_objects_keeps_the_largest():
    cands = [_cand(_box(10, 10 + s, 10, 10 + s), key=f"k-{s}") for s in (12, 30, 20)]
    rec = ImageRecord(key="k", shard=0, uri="", source_id="1", candidates=cands)
    out = filter_candidates(rec, FilterConfig(min_pixels=1, min_area_ratio=0.0, max_objects=2))
    kept = [o.key for o in out if isinstance(o, Candidate)]
    dropped = [(o.key, o.reason) for o in out if not isinstance(o, Candidate)]
    assert kept == ["k-30", "k-20"] and dropped == [("k-12", "over_max_objects")]
