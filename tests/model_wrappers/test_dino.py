"""The DINOv2 scorer with a tiny random Dinov2Model, saved and loaded through the registry's real loading code:
unit image embeddings in request order, each distinct image embedded once, texts refused."""
from __future__ import annotations

import numpy as np
import pytest

from configs.schema import load_config
from model_wrappers.types import EmbedRequest
from model_wrappers.dino import DinoScorer
from model_wrappers.registry import build_handler

RNG = np.random.default_rng(4)
IMAGES = [RNG.integers(0, 255, (40 + 8 * i, 56, 3), dtype=np.uint8) for i in range(3)]


@pytest.fixture(scope="module")
def scorer(tiny) -> DinoScorer:
    cfg = load_config(None, [f"quality.dino.model={tiny['dino']}"])
    return build_handler("dino", cfg.quality.dino).load_model().runner   # the scorer inside the lock


def test_embeddings_are_unit_length_follow_the_request_and_each_image_is_embedded_once(scorer, monkeypatch):
    seen, real = [], scorer.embed_images
    monkeypatch.setattr(scorer, "embed_images", lambda ims: seen.append(len(ims)) or real(ims))
    a, b = scorer.predict([EmbedRequest([IMAGES[0], IMAGES[1]], []),
                           EmbedRequest([IMAGES[1], IMAGES[2], IMAGES[0].copy()], [])])
    assert seen == [3] and a.images.shape == (2, 32) and b.images.shape == (3, 32) and a.texts.shape == (0, 32)
    assert np.allclose(np.linalg.norm(b.images, axis=1), 1, atol=1e-5)
    assert np.allclose(a.images[0], b.images[2]) and not np.allclose(a.images[0], a.images[1])


def test_the_embedding_is_the_cls_token_of_the_last_hidden_state(scorer):
    import torch
    with torch.inference_mode():
        out = scorer.model(pixel_values=torch.zeros(1, 3, 64, 64))
    assert torch.equal(out.pooler_output, out.last_hidden_state[:, 0])


def test_texts_are_refused(scorer):
    with pytest.raises(ValueError, match="images only"):
        scorer.predict([EmbedRequest([IMAGES[0]], ["a cat"])])
