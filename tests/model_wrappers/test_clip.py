"""The CLIP scorer with a tiny random CLIPModel, saved and loaded through the registry's real loading code,
run by RunInference: unit embeddings in request order, each distinct image embedded once, texts cached."""
from __future__ import annotations

import apache_beam as beam
import numpy as np
import pytest
from apache_beam.ml.inference.base import KeyedModelHandler, RunInference
from apache_beam.testing.util import assert_that

from configs.schema import load_config
from model_wrappers.clip import ClipScorer, projected
from model_wrappers.types import Embeddings, EmbedRequest
from model_wrappers.registry import build_handler

RNG = np.random.default_rng(3)
IMAGES = [RNG.integers(0, 255, (40 + 8 * i, 56, 3), dtype=np.uint8) for i in range(3)]


@pytest.fixture(scope="module")
def scorer(tiny) -> ClipScorer:
    return handler(tiny).load_model()


def handler(tiny, batch_size: int = 2):
    cfg = load_config(None, [f"quality.clip.model={tiny['clip']}", f"quality.clip.batch_size={batch_size}"])
    return build_handler("clip", cfg.quality.clip)


def test_embeddings_are_unit_length_and_follow_the_request(scorer):
    a, b = scorer.predict([EmbedRequest([IMAGES[0], IMAGES[1]], ["a photo of a cat"]),
                           EmbedRequest([IMAGES[1], IMAGES[2], IMAGES[0]], ["apple", "a photo of a cat"])])
    assert a.images.shape == (2, 16) and a.texts.shape == (1, 16) and b.images.shape == (3, 16)
    assert np.allclose(np.linalg.norm(b.images, axis=1), 1, atol=1e-5)
    assert np.allclose(a.images[0], b.images[2], atol=1e-6) and np.allclose(a.images[1], b.images[0], atol=1e-6)
    assert np.allclose(a.texts[0], b.texts[1]) and not np.allclose(a.images[0], a.images[1])
    alone = scorer.predict([EmbedRequest([IMAGES[2]], [])])[0]
    assert alone.texts.shape == (0, 16) and np.allclose(alone.images[0], b.images[1], atol=1e-5)


def test_each_distinct_image_is_embedded_once_per_call_and_texts_are_cached(tiny):
    s = handler(tiny).load_model().runner   # the scorer inside the lock
    seen, real = [], s.embed_images
    s.embed_images = lambda ims: seen.append(len(ims)) or real(ims)
    same = IMAGES[0].copy()
    s.predict([EmbedRequest([IMAGES[0], same, IMAGES[1]], ["cat"]), EmbedRequest([IMAGES[0]], ["cat", "dog"])])
    assert seen == [2] and set(s.texts) == {"cat", "dog"}
    s.texts["cat"] = np.full(16, 0.25, np.float32)   # a cached text is not embedded again
    assert (s.predict([EmbedRequest([], ["cat"])])[0].texts == 0.25).all()


def test_the_projection_is_read_from_the_installed_transformers(scorer):
    import torch
    pixels = torch.zeros(1, 3, 32, 32)
    with torch.inference_mode():
        out = projected(scorer.model.get_image_features(pixel_values=pixels))
    assert tuple(out.shape) == (1, scorer.model.config.projection_dim)


def test_through_run_inference_in_batches(tiny):
    h = handler(tiny)
    assert h.batch_elements_kwargs() == {"min_batch_size": 2, "max_batch_size": 2}
    requests = {k: EmbedRequest([im], [f"a photo of a {w}"]) for k, (im, w) in enumerate(zip(IMAGES, "abc"))}

    def check(outputs):
        assert sorted(k for k, _ in outputs) == [0, 1, 2]
        for _, e in outputs:
            assert isinstance(e, Embeddings) and e.images.shape == (1, 16) and e.texts.shape == (1, 16)

    with beam.Pipeline(runner="FnApiRunner") as p:
        out = p | beam.Create(list(requests.items())) | RunInference(KeyedModelHandler(h))
        assert_that(out, check)


def test_a_cached_text_embedding_is_the_one_the_text_gets_alone(tiny):
    """The text cache outlives a batch: an embedding computed beside longer texts (padded together) would be
    served to later elements, so each text is embedded in a call of its own."""
    alone = handler(tiny).load_model().embed_texts(["a cat"])[0]
    beside = handler(tiny).load_model().embed_texts(["a photo of a very large cat on a wooden table", "a cat"])[1]
    assert np.array_equal(alone, beside)
