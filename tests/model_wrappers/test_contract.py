"""Contract: every registered model family, loaded from disk through the registry, run by RunInference.

Three keyed elements with batches of at most two; each family's check states the output contract
(types, shapes, scores, determinism). A family missing here fails ``test_every_family_is_covered``.
"""
from __future__ import annotations

import dataclasses

import apache_beam as beam
import numpy as np
import pytest
from apache_beam.ml.inference.base import KeyedModelHandler, RunInference
from apache_beam.testing.util import assert_that

from configs.schema import load_config
from model_wrappers.base import ModelLoadError
from model_wrappers.types import Embeddings, EmbedRequest
from model_wrappers.registry import HANDLERS, build_handler
from model_wrappers.types import (ChatRequest, DescribeRequest, DiffEditRequest, InferenceFailed, InpaintRequest,
                                  InpaintResult, MaskProposal, SegmentRequest)

RNG = np.random.default_rng(0)
IMAGES = [RNG.integers(0, 255, (64, 80, 3), dtype=np.uint8) for _ in range(3)]


def _mask(h=64, w=80):
    m = np.zeros((h, w), bool)
    m[20:40, 30:50] = True
    return m


def check_proposals(req: SegmentRequest, pred) -> None:
    assert isinstance(pred, list) and pred, "the tiny models with zero thresholds find something"
    for p in pred:
        assert isinstance(p, MaskProposal)
        assert p.mask.dtype == bool and p.mask.shape == req.image.shape[:2]
        assert len(p.box_xyxy) == 4
        assert all(isinstance(v, float) and np.isfinite(v) for v in p.scores.values())


def check_sam(req, pred):
    check_proposals(req, pred)
    assert all(set(p.scores) == {"sam_iou", "sam_stability"} and p.label == "" for p in pred)
    ious = [p.scores["sam_iou"] for p in pred]
    assert ious == sorted(ious, reverse=True)


def check_grounded(req, pred):
    check_proposals(req, pred)
    assert len(pred) <= 3  # max_boxes
    assert all(set(p.scores) == {"box_score", "sam_iou"} and isinstance(p.label, str) for p in pred)


def check_inpaint(req: InpaintRequest, pred):
    assert isinstance(pred, InpaintResult)
    assert len(pred.images) == len(req.seeds) == len(pred.nsfw)
    for im in pred.images:
        assert im.dtype == np.uint8 and im.shape == req.image.shape
    assert not np.array_equal(pred.images[0], pred.images[1]), "different seeds, different candidates"


def check_diffedit(req: DiffEditRequest, pred):
    assert isinstance(pred, list) and [p.label for p in pred] == list(req.labels)
    for p, query, reference in zip(pred, req.queries, req.references):
        assert isinstance(p, MaskProposal) and p.mask.dtype == bool and p.mask.shape == req.image.shape[:2]
        assert p.mask.any() != (query == reference), (query, reference)   # same prompts: no difference, no mask


def check_text(req, pred):
    assert isinstance(pred, str)


def check_clip(req: EmbedRequest, pred):
    assert isinstance(pred, Embeddings)
    assert pred.images.shape[0] == len(req.images) and pred.texts.shape[0] == len(req.texts)
    assert np.allclose(np.linalg.norm(pred.images, axis=1), 1, atol=1e-5)


def check_dino(req: EmbedRequest, pred):
    check_clip(req, pred)
    assert pred.images.shape == (2, 32) and pred.texts.shape == (0, 32)
    same = np.array_equal(req.images[0], req.images[1])
    assert np.isclose(pred.images[0] @ pred.images[1], 1, atol=1e-5) or not same


SEGMENT = [SegmentRequest(image=im, labels=("apple", "cat")) for im in IMAGES]
CASES = {  # family: (config overrides, section, requests, check)
    "sam": (["masks.sam.model={sam}", "masks.sam.model_type=vit_tiny", "masks.sam.points_per_side=4",
             "masks.sam.pred_iou_thresh=0", "masks.sam.stability_score_thresh=0", "masks.sam.batch_size=2"],
            "masks.sam", SEGMENT, check_sam),
    "grounded_sam": (["masks.grounding.model={grounding_dino}", "masks.grounding.sam_model={hf_sam}",
                      "masks.grounding.box_threshold=0", "masks.grounding.text_threshold=0",
                      "masks.grounding.max_boxes=3", "masks.grounding.batch_size=2"],
                     "masks.grounding", SEGMENT, check_grounded),
    "diffusion": (["removal.diffusion.model={sd}", "removal.diffusion.steps=2", "removal.diffusion.size=64",
                   "removal.diffusion.batch_size=2"], "removal.diffusion",
                  [InpaintRequest(im, _mask(), "a photo of a background", "an object", (1, 2)) for im in IMAGES],
                  check_inpaint),
    "diffedit": (["masks.diffedit.model={sd_t2i}", "masks.diffedit.size=64", "masks.diffedit.noise_draws=2",
                  "masks.diffedit.batch_size=2"], "masks.diffedit",
                 [DiffEditRequest(im, ("cat", "same"), ("a photo of a cat", "a photo"), ("a photo", "a photo"), i)
                  for i, im in enumerate(IMAGES)], check_diffedit),
    "vlm": (["describe.vlm.model={blip}", "describe.vlm.max_new_tokens=5", "describe.vlm.batch_size=2"],
            "describe.vlm", [DescribeRequest(im, "describe the apple", "a photo of") for im in IMAGES], check_text),
    "llm": (["instructions.llm.model={llm}", "instructions.llm.max_new_tokens=5", "instructions.llm.batch_size=2"],
            "instructions.llm",
            [ChatRequest([{"role": "user", "content": f"add {w}"}]) for w in ("a cat", "an apple", "a dog")],
            check_text),
    "clip": (["quality.clip.model={clip}", "quality.clip.batch_size=2"], "quality.clip",
             [EmbedRequest([im], ["a photo of a cat"]) for im in IMAGES], check_clip),
    "dino": (["quality.dino.model={dino}", "quality.dino.batch_size=2"], "quality.dino",
             [EmbedRequest([im, IMAGES[0]], []) for im in IMAGES], check_dino),
}


def handler_for(family: str, tiny: dict, extra=()):
    overrides, section, _, _ = CASES[family]
    cfg = load_config(None, [o.format(**tiny) for o in overrides] + list(extra))
    node = cfg
    for part in section.split("."):
        node = getattr(node, part)
    return build_handler(family, node)


def run_keyed(handler, requests, check):
    """requests -> RunInference(KeyedModelHandler) on FnApiRunner; ``check(request, prediction)`` per key."""
    by_key = dict(enumerate(requests))

    def matches(outputs):
        assert sorted(k for k, _ in outputs) == sorted(by_key)
        for key, pred in outputs:
            check(by_key[key], pred)

    with beam.Pipeline(runner="FnApiRunner") as p:
        out = p | beam.Create(list(by_key.items())) | RunInference(KeyedModelHandler(handler))
        assert_that(out, matches)


def test_every_family_is_covered():
    assert set(CASES) == set(HANDLERS)


@pytest.mark.parametrize("family", sorted(CASES))
def test_family_through_run_inference(family, tiny):
    _, _, requests, check = CASES[family]
    handler = handler_for(family, tiny)
    assert handler.batch_elements_kwargs() == {"min_batch_size": 2, "max_batch_size": 2}
    assert not handler.share_model_across_processes()
    run_keyed(handler, requests, check)


def test_chat_vlm_through_run_inference(tiny):
    """The VLM's chat mode (a LLaVA-class model with a chat template) answers the same contract."""
    handler = handler_for("vlm", {**tiny, "blip": tiny["llava"]})
    run_keyed(handler, CASES["vlm"][2], check_text)


def test_diffusion_is_reproducible_by_seed(tiny):
    """Same request, same seeds: the same bytes; in another batch only float rounding may differ (<= 2/255)."""
    runner = handler_for("diffusion", tiny).load_model()
    req = InpaintRequest(IMAGES[0], _mask(), "a photo of a background", "an object", (7, 8))
    a, again = runner.predict([req]), runner.predict([req])
    mixed = runner.predict([req, InpaintRequest(IMAGES[1], _mask(), "x", "y", (7,))])
    for i in range(2):
        assert np.array_equal(a[0].images[i], again[0].images[i])
        assert np.abs(a[0].images[i].astype(int) - mixed[0].images[i]).max() <= 2


def test_one_failing_element_does_not_fail_its_batch(tiny, monkeypatch):
    """The keyed handler as RunInference calls it: the bad element's prediction is InferenceFailed."""
    from model_wrappers.llm import Rewriter
    real = Rewriter.predict

    def predict(self, requests):
        if any("poison" in r.messages[-1]["content"] for r in requests):
            raise RuntimeError("poisoned input")
        return real(self, requests)

    monkeypatch.setattr(Rewriter, "predict", predict)
    keyed = KeyedModelHandler(handler_for("llm", tiny))
    batch = [(k, ChatRequest([{"role": "user", "content": w}])) for k, w in enumerate(["cat", "poison", "dog"])]
    out = dict(keyed.run_inference(batch, keyed.load_model()))
    assert isinstance(out[0], str) and isinstance(out[2], str)
    assert out[1] == InferenceFailed("RuntimeError: poisoned input")


@pytest.mark.parametrize("family", sorted(CASES))
def test_a_missing_model_stops_with_the_key_the_path_and_the_fix(family, tiny, tmp_path):
    overrides, section, _, _ = CASES[family]
    gone = {k: str(tmp_path / "nowhere" / k) for k in tiny}
    handler = handler_for(family, gone)
    with pytest.raises(ModelLoadError) as e:
        handler.load_model()
    message = str(e.value)
    assert "could not load" in message and section in message and str(tmp_path / "nowhere") in message
    assert "--set" in message


# A build calls a model on fixed chunks of a unit's requests (model_wrappers/base.py ``run_chunks``): the same
# chunk must give the same bytes every time, and a request's answer in a chunk must be the answer it gets
# alone up to float effects (a batched forward pass picks other float kernels; text generation pads on the
# left, with the attention mask, and cuts each row's answer at its own end).
def same(a, b) -> bool:
    """Deep, exact equality of predictions (arrays bit for bit, dataclasses field by field)."""
    return near(a, b, 0.0)


def near(a, b, tol: float) -> bool:
    """Deep equality of predictions, arrays within ``tol`` (absolute; uint8 pixels in levels)."""
    if isinstance(a, np.ndarray):
        if not (isinstance(b, np.ndarray) and a.dtype == b.dtype and a.shape == b.shape):
            return False
        return np.array_equal(a, b) if tol == 0 or a.size == 0 else bool(np.abs(a.astype(float) - b).max() <= tol)
    if dataclasses.is_dataclass(a):
        return type(a) is type(b) and all(near(getattr(a, f.name), getattr(b, f.name), tol)
                                          for f in dataclasses.fields(a))
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(near(x, y, tol) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(near(a[k], b[k], tol) for k in a)
    return a == b


# requests of one batch that differ in what batching pads: prompt lengths, seed counts, image sizes
UNEVEN = {
    "vlm": [DescribeRequest(IMAGES[0], "describe it", "a photo of"),
            DescribeRequest(IMAGES[1], "describe the large red apple on the table", "a close up photograph of a"),
            DescribeRequest(IMAGES[2], "what", "")],
    "llm": [ChatRequest([{"role": "user", "content": w}]) for w in ("add a cat", "add a very small green apple "
                                                                     "on the left of the wooden table", "x")],
    "diffusion": [InpaintRequest(IMAGES[0], IMAGES[0][..., 0] > 128, "a background", "an object", (1, 2)),
                  InpaintRequest(IMAGES[1], IMAGES[1][..., 0] > 64, "a much longer prompt about a background",
                                 "", (3,)),
                  InpaintRequest(IMAGES[2][:40], IMAGES[2][:40, :, 0] > 200, "a background", "an object", (4, 5))],
    "clip": [EmbedRequest([IMAGES[0]], ["a cat"]), EmbedRequest([IMAGES[1], IMAGES[2][:30]],
                                                                 ["a photo of a very large cat", "x"]),
             EmbedRequest([IMAGES[2]], [])],
}
FLOAT_EFFECTS = {"diffusion": 3, "clip": 1e-4, "dino": 1e-4}   # pixel levels; cosine units; text: exact


@pytest.mark.parametrize("family", sorted(CASES))
def test_a_chunk_gives_the_same_bytes_every_time_and_each_answer_is_its_answer_alone(family, tiny):
    handler = handler_for(family, tiny)
    model = handler.load_model()
    requests = UNEVEN.get(family, CASES[family][2])
    alone = [model.predict([r])[0] for r in requests]
    for order in (list(range(len(requests))), list(reversed(range(len(requests)))), [1, 0]):
        chunk = [requests[i] for i in order]
        batched = model.predict(chunk)
        assert same(batched, model.predict(chunk)), (family, order)
        for i, answer in zip(order, batched):
            assert near(alone[i], answer, FLOAT_EFFECTS.get(family, 0.0)), (family, order, i, alone[i], answer)


def test_a_diffusion_prompt_longer_than_the_text_encoder_is_cut_on_purpose_and_said_so(tiny):
    """The tiny SD's CLIP tokenizer takes 77 tokens: a longer prompt is cut by the runner (as the pipeline
    would, silently), the result says where, and the pixels are those of the cut prompt given whole."""
    runner = handler_for("diffusion", tiny).load_model()
    long = "a photo of a background, " * 20
    [cut] = runner.predict([InpaintRequest(IMAGES[0], _mask(), long, "an object", (3, 4))])
    assert cut.fitted["limit"] == 77 and cut.fitted["prompt_tokens"] > 77 and "negative_prompt" not in cut.fitted
    tok = runner.pipe.tokenizer
    kept = cut.fitted["prompt"].split()
    assert len(tok(" ".join(kept)).input_ids) <= 77 < len(tok(" ".join(long.split()[:len(kept) + 1])).input_ids)
    assert long.startswith(cut.fitted["prompt"])
    [whole] = runner.predict([InpaintRequest(IMAGES[0], _mask(), cut.fitted["prompt"], "an object", (3, 4))])
    assert whole.fitted == {} and all(np.array_equal(a, b) for a, b in zip(cut.images, whole.images))
