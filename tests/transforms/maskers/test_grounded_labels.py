"""Grounded-SAM: a detected phrase that names none of the prompts is a reject, never a class."""
import numpy as np

from configs.schema import FilterConfig, load_config
from helpers import DEMO_CONFIG
from model_wrappers.grounded_sam import match_label
from model_wrappers.types import MaskProposal
from transforms.core.records import Candidate, ImageRecord, Reject
from transforms.maskers.candidates import prompt_match
from transforms.maskers.grounded_sam import grounded_candidates
from transforms.stages.filter import filter_candidates


def _rec(caption=""):
    rec = ImageRecord(key="img-1", shard=0, uri="", source_id="1", objects=[])
    rec.image = np.zeros((32, 32, 3), np.uint8)
    rec.orig_hw = (32, 32)
    if caption:
        rec.meta["caption"] = caption
    return rec


def _prop(label, y0):
    m = np.zeros((32, 32), bool)
    m[y0:y0 + 8, 4:12] = True
    return MaskProposal(mask=m, label=label, scores={"box_score": 0.5, "sam_iou": -0.2}, box_xyxy=(4, y0, 12, y0 + 8))


def test_prompt_match_whole_words():
    assert prompt_match("cat", ("cat", "dog")) and prompt_match("red car", ("a red car on a road",))
    assert not prompt_match("[sep]", ("cat",)) and not prompt_match("", ("cat",))
    assert not prompt_match("at", ("cat",)) and not prompt_match("object", ("cat", "dog"))


def test_unmatched_labels_become_rejects_not_classes():
    cfg = load_config(DEMO_CONFIG, ["masks.kind=grounded_sam", "masks.grounding.prompts=[cat, dog]"])
    prompts = ("cat", "dog")
    phrases = ["cat", "[sep]", "[unk] [sep]", "object", "a dog"]
    props = [_prop(match_label(p, prompts), 2 + 5 * i) for i, p in enumerate(phrases)]
    out = grounded_candidates(_rec(), props, cfg)
    rec = next(o for o in out if isinstance(o, ImageRecord))
    rejects = [o for o in out if isinstance(o, Reject)]
    assert sorted(c.class_name for c in rec.candidates) == ["cat", "dog"]
    assert all(c.category_id == -1 or c.class_name in prompts for c in rec.candidates)
    assert [(r.stage, r.reason) for r in rejects] == [("propose", "unmatched_label")] * 3
    assert len(rec.candidates) + len(rejects) == len(phrases)
    assert "[sep]" in rejects[0].detail


def test_caption_phrases_match_their_caption():
    cfg = load_config(DEMO_CONFIG, ["masks.kind=grounded_sam", "masks.grounding.prompt_source=caption"])
    caption = "a red car next to a tree"
    props = [_prop(match_label(p, (caption,)), 2 + 8 * i) for i, p in enumerate(["red car", "tree", "[sep]"])]
    out = grounded_candidates(_rec(caption), props, cfg)
    rec = next(o for o in out if isinstance(o, ImageRecord))
    assert [c.class_name for c in rec.candidates] == ["red car", "tree"]
    assert [r.reason for r in out if isinstance(r, Reject)] == ["unmatched_label"]


def test_min_sam_iou_null_switches_filter_off():
    """SAM's predicted IoU can be negative: 0 drops such a mask, null keeps it."""
    assert load_config(DEMO_CONFIG, ["filters.min_sam_iou=null"]).filters.min_sam_iou is None
    assert load_config(DEMO_CONFIG, ["filters.min_sam_iou=-0.5"]).filters.min_sam_iou == -0.5

    def run(threshold):
        m = np.zeros((100, 100), bool)
        m[20:60, 20:60] = True
        c = Candidate(key="k-1", shard=0, image_key="k", class_name="x", category_id=1,
                      image=np.zeros((100, 100, 3), np.uint8), mask=m, scores={"crop_kept": 1.0, "sam_iou": -0.2})
        rec = ImageRecord(key="k", shard=0, uri="", source_id="1", objects=[])
        rec.candidates = [c]
        return filter_candidates(rec, FilterConfig(min_sam_iou=threshold))

    dropped = run(0.0)
    assert isinstance(dropped[0], Reject) and dropped[0].reason == "low_sam_iou"
    assert isinstance(run(None)[0], Candidate)


def test_mask_models_are_named_as_every_stage_names_them(monkeypatch):
    """A hub id the cache holds is recorded as owner/name@commit, as removal, describe and the rest record
    theirs (model_wrappers/locate.py record_models); the layout the cache is asked for is the model's own."""
    import model_wrappers.locate as locate
    asked = []

    def cached(m):
        asked.append((m.ref, m.layout))
        return locate.Location("cached", f"/hub/models--{m.ref.replace('/', '--')}/snapshots/c0ffee")

    monkeypatch.setattr(locate, "_hub", cached)
    locate.named.cache_clear()
    try:
        cfg = load_config(DEMO_CONFIG, ["masks.kind=grounded_sam", "masks.grounding.prompts=[cat, dog]",
                                        "masks.grounding.model=IDEA-Research/grounding-dino-base",
                                        "masks.grounding.sam_model=facebook/sam-vit-huge"])
        [rec] = [o for o in grounded_candidates(_rec(), [_prop("cat", 2)], cfg) if isinstance(o, ImageRecord)]
        assert rec.candidates[0].meta["models"] == {
            "masks": ["IDEA-Research/grounding-dino-base@c0ffee", "facebook/sam-vit-huge@c0ffee"]}
        assert asked == [("IDEA-Research/grounding-dino-base", "transformers"),
                         ("facebook/sam-vit-huge", "transformers")]
    finally:
        locate.named.cache_clear()
