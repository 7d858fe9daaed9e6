"""The pure pre- and post-processing of the model stages, without Beam and without models."""
from __future__ import annotations

import numpy as np
import pytest

from configs.schema import Config, DescribeConfig, InstructionsConfig, RemovalConfig, load_config
from model_wrappers.types import (ChatRequest, DescribeRequest, InferenceFailed, InpaintRequest, InpaintResult,
                                  MaskProposal, SegmentRequest)
from transforms.core.text import one_line
from transforms.language.describe import describe_request, object_view, store_description
from transforms.language.llm import clean_instruction, llm_messages, llm_request, store_instruction
from transforms.core.records import reject
from transforms.core.stage import apply_post, batch_rejects
from transforms.maskers.grounded_sam import grounded_candidates, grounding_prompts, grounding_request
from transforms.maskers.sam import sam_candidates, sam_request
from transforms.core.records import Candidate, ImageRecord, ObjectRef, Reject, Unit
from transforms.core.keys import derive_seeds
from transforms.removers.diffusion import inpaint_request, pick_removal, ring_delta


def _record(objects=()) -> ImageRecord:
    rng = np.random.default_rng(0)
    rec = ImageRecord(key="img-1", shard=0, uri="x.jpg", source_id="1", objects=list(objects),
                      meta={"dataset": "coco", "file_name": "x.jpg"})
    rec.image, rec.orig_hw = rng.integers(0, 255, (32, 40, 3), dtype=np.uint8), (32, 40)
    return rec


def _candidate(name="apple") -> Candidate:
    image = np.full((32, 40, 3), 200, np.uint8)
    mask = np.zeros((32, 40), bool)
    mask[10:20, 12:24] = True
    image[mask] = (255, 0, 0)
    return Candidate(key="img-1-7", shard=0, image_key="img-1", class_name=name, category_id=1, image=image,
                     mask=mask)


# ---- propose -----------------------------------------------------------------------------------------

def test_grounding_prompts_from_config_categories_or_caption():
    rec = _record([ObjectRef("1", 2, "dog"), ObjectRef("2", 1, "cat"), ObjectRef("3", 1, "cat"),
                   ObjectRef("4", 5, "crowd", iscrowd=True)])
    assert grounding_prompts(rec, load_config(None, ["masks.grounding.prompts=[car]"])) == ("car",)
    cats = load_config(None, ["masks.grounding.prompt_source=categories"])
    assert grounding_prompts(rec, cats) == ("cat", "dog")
    caption = load_config(None, ["masks.grounding.prompt_source=caption"])
    assert grounding_request(rec, caption) == Reject("img-1", 0, "img-1", "image", "propose", "no_prompts",
                                                     "prompt_source=caption")
    rec.meta["caption"] = "a dog on a sofa"
    assert grounding_request(rec, caption)[1].labels == ("a dog on a sofa",)
    assert isinstance(sam_request(rec, Config())[1], SegmentRequest)


def test_proposals_become_candidates_with_scores_labels_and_models():
    rec = _record([ObjectRef("1", 17, "cat")])
    cfg = load_config(None, ["masks.kind=grounded_sam", "masks.grounding.prompts=[cat]",
                             "masks.grounding.model=owner/dino", "masks.grounding.sam_model=owner/sam"])
    full, empty = np.zeros((32, 40), bool), np.zeros((32, 40), bool)
    full[5:15, 5:15] = True
    out = grounded_candidates(rec, [MaskProposal(full, "cat", {"box_score": 0.7, "sam_iou": 0.9}, (5, 5, 15, 15)),
                                        MaskProposal(empty, "cat", {"box_score": 0.4, "sam_iou": 0.1})], cfg)
    assert out[0] is rec and [r.reason for r in out[1:]] == ["empty_mask"]
    [c] = rec.candidates
    assert (c.key, c.class_name, c.category_id) == ("img-1-m000", "cat", 17)
    assert c.scores == {"crop_kept": 1.0, "box_score": 0.7, "sam_iou": 0.9}
    assert c.meta["models"]["masks"] == ["owner/dino", "owner/sam"] and c.meta["masks"]["label"] == "cat"
    assert (c.meta["masks"]["model"], c.meta["masks"]["sam_model"]) == ("owner/dino", "owner/sam")
    assert grounded_candidates(_record(), [], cfg)[0].reason == "no_masks"
    unlabelled = sam_candidates(_record(), [MaskProposal(full)], load_config(None, ["masks.kind=sam"]))
    assert unlabelled[0].candidates[0].class_name == "object"


# ---- remove ------------------------------------------------------------------------------------------

def test_seeds_derive_from_the_key_only():
    assert derive_seeds("k-1", 3) == derive_seeds("k-1", 3) and len(set(derive_seeds("k-1", 3))) == 3
    assert derive_seeds("k-1", 2) == derive_seeds("k-1", 3)[:2] != derive_seeds("k-2", 2)
    assert derive_seeds("k-1", 1, base=1) != derive_seeds("k-1", 1) and all(0 <= s < 2**31 for s in derive_seeds("k", 9))


def test_inpaint_request_uses_pipes_prompts_and_the_dilated_mask():
    cfg = RemovalConfig(dilate=5, feather=3)
    c, req = inpaint_request(_candidate("orange"), cfg)
    assert isinstance(req, InpaintRequest) and req.mask is c.dilated and c.dilated.sum() > c.mask.sum()
    assert req.prompt == "a photo of a background, a photo of an empty place"
    assert req.negative_prompt == "an object, an orange" and req.seeds == derive_seeds(c.key, 3)


def test_pick_removal_keeps_the_fill_closest_to_its_surroundings():
    cfg = RemovalConfig(dilate=5, feather=3, diffusion=load_config(None, ["removal.diffusion.candidates=2"])
                        .removal.diffusion)
    c, _ = inpaint_request(_candidate(), cfg)
    red, grey = c.image.copy(), np.full_like(c.image, 200)
    assert ring_delta(c.image, grey, c.mask, c.dilated, 5) == 0.0 < ring_delta(c.image, red, c.mask, c.dilated, 5)
    out = pick_removal(c, InpaintResult([red, grey], [False, False]), cfg)
    assert out.source is grey and out.meta["removal"]["chosen"] == 1 and out.scores["removal_ring_delta"] == 0.0
    assert out.meta["removal"]["seeds"] == list(derive_seeds(c.key, 2)) and out.meta["models"]["removal"]
    flagged = pick_removal(c, InpaintResult([red, grey], [True, True]), cfg)
    assert flagged.reason == "all_candidates_flagged" and flagged.stage == "remove"
    with pytest.raises(ValueError):
        pick_removal(c, InpaintResult([red], [False]), cfg)


# ---- describe ----------------------------------------------------------------------------------------

def test_object_view_keeps_only_the_object_on_white():
    c = _candidate()
    view = object_view(c.image, c.mask, 0.5)
    assert view.shape == (20, 24, 3)  # 10x12 box grown by half its size each side, clipped to the image
    assert (view == (255, 0, 0)).all(axis=-1).sum() == c.mask.sum()
    assert ((view == 255).all(axis=-1) | (view == (255, 0, 0)).all(axis=-1)).all()
    with pytest.raises(ValueError):
        object_view(c.image, np.zeros_like(c.mask), 0.1)


def test_describe_request_and_stored_description():
    c, req = describe_request(_candidate(), DescribeConfig(kind="vlm"))
    assert isinstance(req, DescribeRequest) and "main characteristics of the apple" in req.prompt
    out = store_description(c, '\n  "red, round and shiny"\nsecond line', DescribeConfig(kind="vlm"))
    assert out.meta["description"] == "red, round and shiny" and out.meta["models"]["describe"]
    assert one_line("\n\n") == "" and one_line("- a  cat\n") == "a cat"


# ---- instruct ----------------------------------------------------------------------------------------

def test_llm_messages_are_the_few_shot_turns_then_the_question():
    c = _candidate()
    c.meta["description"] = "red and round"
    msgs = llm_messages(c, InstructionsConfig())
    assert [m["role"] for m in msgs] == ["user", "assistant"] * 5 + ["user"]
    assert msgs[-1]["content"].startswith("Convert the following sentence into a short image addition "
                                          "instruction: red and round. Use straightforward language and "
                                          "describe only the apple.")
    assert msgs[1]["content"] == "add a brown leather handbag"
    del c.meta["description"]
    assert "instruction: an apple." in llm_request(c, InstructionsConfig())[1].messages[-1]["content"]
    assert isinstance(llm_request(c, InstructionsConfig())[1], ChatRequest)


@pytest.mark.parametrize("text, expected", [
    ("Instruction: Add a red apple.\nmore", ("Add a red apple", "")),
    ('"add a shiny red apple"', ("add a shiny red apple", "")),
    ("", ("", "empty")), ("  \n ", ("", "empty")), ("H\ufffdn\ufffd", ("", "unprintable")),
    ("12 34", ("", "unprintable")), ("apple", ("", "too_short")), (" ".join(["word"] * 21), ("", "too_long")),
])
def test_clean_instruction(text, expected):
    assert clean_instruction(text, 20) == expected


def test_store_instruction_falls_back_to_the_class_template_and_says_why():
    cfg = InstructionsConfig(kind="llm", txt="vlm_llm")
    good = store_instruction(_candidate(), "add a glossy red apple", cfg)
    assert good.instructions["vlm_llm"] == "add a glossy red apple" and good.instructions["add"] == "add an apple"
    assert good.meta["instruction_llm"]["fallback"] is False and good.meta["instructions_kind"] == "llm"
    bad = store_instruction(_candidate(), "\ufffd\ufffd", cfg)
    assert bad.instructions["vlm_llm"] == "add an apple"
    assert bad.meta["instruction_llm"] == {"model": "mistralai/Mistral-7B-Instruct-v0.2", "raw": "\ufffd\ufffd",
                                           "fallback": True, "reason": "unprintable"}


# ---- model stage plumbing ----------------------------------------------------------------------------

def test_failed_predictions_and_dead_letters_become_error_rejects():
    c, rec = _candidate(), _record()
    assert apply_post(lambda r, p, cfg: r, c, "x", None, "describe") == [c]
    [r] = apply_post(lambda r, p, cfg: r, c, InferenceFailed("OOM"), None, "describe")
    assert (r.key, r.level, r.stage, r.reason, r.detail) == ("img-1-7", "candidate", "describe", "error", "OOM")
    [r] = apply_post(lambda r, p, cfg: 1 / 0, c, "x", None, "describe")
    assert r.reason == "error" and "ZeroDivisionError" in r.detail
    [r] = apply_post(lambda r, p, cfg: None, c, "x", None, "describe")
    assert r.reason == "error" and "returned nothing" in r.detail
    dead = ([(Unit(0, 0, [c, rec]), ["req", "req"])], (RuntimeError, "RuntimeError('boom')", ["tb"]))   # a unit
    rows = batch_rejects(dead, "propose")
    assert [(r.level, r.reason) for r in rows] == [("candidate", "error"), ("image", "error")]
    assert rows[0].detail == "RuntimeError: RuntimeError('boom')"
    with pytest.raises(TypeError):
        reject("not a record", "x", "y")


def test_a_prompt_fitted_to_the_text_encoder_is_recorded_in_the_pair():
    cfg = RemovalConfig(dilate=5, feather=3, diffusion=load_config(None, ["removal.diffusion.candidates=1"])
                        .removal.diffusion)
    c, _ = inpaint_request(_candidate(), cfg)
    fitted = {"prompt": "a photo of a background", "prompt_tokens": 120, "limit": 77}
    out = pick_removal(c, InpaintResult([c.image.copy()], [False], fitted), cfg)
    assert out.meta["removal"]["fitted"] == fitted
    assert "fitted" not in pick_removal(c, InpaintResult([c.image.copy()], [False]), cfg).meta["removal"]
