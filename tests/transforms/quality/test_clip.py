"""PIPE's quality filters as pure functions, fed designed embeddings (no model): each rule, each threshold
edge, the candidate choice and the removal score's exception margin."""
from __future__ import annotations

import numpy as np
import pytest

from configs.schema import ConfigError, QualityConfig, load_config
from model_wrappers.types import Embeddings
from transforms.quality import QUALITY, quality_step
from transforms.quality import clip as cf
from pipelines.chain import order
from transforms.core.records import Candidate, Reject

CFG = QualityConfig(kind="clip")
TEXT = np.array([[1.0, 0.0, 0.0]], np.float32)


def at(sim: float) -> np.ndarray:
    """A unit 3-vector whose cosine with TEXT is ``sim`` (exact in float64)."""
    return np.array([sim, np.sqrt(1.0 - sim * sim), 0.0])


def candidate(n_candidates: int = 0) -> Candidate:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)
    mask = np.zeros((48, 64), bool)
    mask[16:32, 20:40] = True
    c = Candidate("img-1", 0, "img", "teddy_bear", 1, image, mask)
    c.source = image.copy()
    c.candidates = [np.full_like(image, 10 * i) for i in range(n_candidates)]
    if n_candidates:
        c.meta["removal"] = {"candidates": [0, 2, 3][:n_candidates], "ring_delta": [0.1, 0.2, 0.3, 0.4],
                             "chosen": 0}
    return c


def emb(images, texts=TEXT) -> Embeddings:
    return Embeddings(images=np.asarray(images, np.float64), texts=np.asarray(texts, np.float64))


# ---- clip_prefilter
def test_prefilter_request_crops_the_object_and_names_the_class():
    c, req = cf.prefilter_request(candidate(), CFG)
    assert req.texts == ["a photo of a teddy bear"]
    assert req.images[0].shape == (16 + 2 * 2, 20 + 2 * 2, 3)   # box grown by 0.1 x 20 px = 2 px per side


@pytest.mark.parametrize("sim, kept", [(0.25, True), (0.20, True), (0.1999, False)])
def test_prefilter_keeps_at_and_above_the_minimum(sim, kept):
    out = cf.prefilter_check(candidate(), emb([at(sim)]), CFG)
    assert isinstance(out, Candidate) is kept
    if not kept:
        assert (out.stage, out.reason) == ("clip_prefilter", "low_class_similarity") and "0.1999" in out.detail
    else:
        assert out.scores["clip_class"] == pytest.approx(sim)


# ---- consensus
def test_total_std_is_the_rms_distance_to_the_mean_and_matches_the_pairwise_cosine_form():
    e = np.array([at(0.9), at(0.95), [1.0, 0.0, 0.0]])
    centre = e.mean(axis=0)
    rms = np.sqrt(((e - centre) ** 2).sum(axis=1).mean())
    pairwise = np.mean([e[i] @ e[j] for i in range(3) for j in range(3) if i < j])
    assert cf.total_std(e) == pytest.approx(rms)
    assert cf.total_std(e) == pytest.approx(np.sqrt(2 / 3 * (1 - pairwise)))
    with pytest.raises(ValueError):
        cf.total_std(e[:1])


def two_at_std(std: float) -> np.ndarray:
    """Two unit vectors whose total std is ``std`` (half their distance)."""
    half = np.arcsin(std)
    return np.array([[np.cos(half), np.sin(half), 0.0], [np.cos(half), -np.sin(half), 0.0]])


@pytest.mark.parametrize("std, kept", [(0.0, True), (0.15, True), (0.1501, False)])
def test_consensus_drops_above_the_maximum_spread(std, kept):
    out = cf.consensus_check(candidate(2), emb(two_at_std(std), TEXT[:0]), CFG)
    assert isinstance(out, Candidate) is kept
    if not kept:
        assert (out.stage, out.reason) == ("consensus", "inconsistent_candidates")
    else:
        assert out.scores["consensus_std"] == pytest.approx(std, abs=1e-6)


def test_consensus_request_has_one_region_view_per_candidate():
    _, req = cf.consensus_request(candidate(3), CFG)
    assert len(req.images) == 3 and req.texts == []
    assert all(v.shape == req.images[0].shape and v.dtype == np.uint8 for v in req.images)


def test_region_view_shows_the_region_on_the_mean_colour():
    c = candidate()
    alpha = cf.context_alpha(c.mask, CFG)
    view = cf.region_view(c.image, alpha)
    assert alpha[c.mask].min() > 0.99 and alpha.max() <= 1.0
    ys, xs = np.nonzero(alpha > 0)
    assert view.shape == (ys.max() - ys.min() + 1, xs.max() - xs.min() + 1, 3)
    inside = c.image[16:32, 20:40].astype(int) - view[16 - ys.min():32 - ys.min(), 20 - xs.min():40 - xs.min()]
    assert np.abs(inside).max() <= 2
    flat = cf.region_view(np.full((20, 20, 3), 77, np.uint8), np.ones((20, 20), np.float32) * 0.3)
    assert (flat == 77).all()   # mean colour blended with itself


# ---- removal_score
def test_removal_request_views_every_candidate_then_the_original():
    _, req = cf.removal_request(candidate(3), CFG)
    assert len(req.images) == 4 and req.texts == ["teddy bear"]


def removal(scores: list[float], original: float, cfg=CFG, n=None):
    c = candidate(n or len(scores))
    return c, cf.removal_check(c, emb([at(s) for s in [*scores, original]]), cfg)


def test_removal_keeps_the_lowest_passing_candidate_and_maps_it_to_its_seed():
    c, out = removal([0.27, 0.22, 0.25], original=0.30)
    assert out is c and c.scores["removal_score"] == pytest.approx(0.22)
    assert c.meta["removal"]["chosen"] == 2 and c.meta["removal"]["chosen_by"] == "removal_score"
    assert c.scores["removal_ring_delta"] == 0.3   # the chosen seed's own
    assert (c.source == 10).all() and c.candidates == []
    assert c.meta["removal"]["clip_scores"] == pytest.approx([0.27, 0.22, 0.25])
    assert c.scores["removal_score_original"] == pytest.approx(0.30)


@pytest.mark.parametrize("score, kept", [(0.28, True), (0.2801, False)])
def test_removal_threshold_edge(score, kept):
    _, out = removal([score], original=score)   # no fall: the exception cannot apply
    assert isinstance(out, Candidate) is kept
    if not kept:
        assert (out.stage, out.reason) == ("removal_score", "object_still_visible")


@pytest.mark.parametrize("original, kept", [(0.30 + 0.0501, True), (0.30 + 0.0499, False)])
def test_removal_exception_needs_a_fall_of_more_than_the_margin(original, kept):
    _, out = removal([0.30], original=original)
    assert isinstance(out, Candidate) is kept


def test_removal_exception_can_choose_a_candidate_above_the_threshold():
    c, out = removal([0.33, 0.29], original=0.36)   # 0.36-0.29 > 0.05 passes; 0.36-0.33 does not
    assert out is c and c.scores["removal_score"] == pytest.approx(0.29) and c.meta["removal"]["chosen"] == 2


def test_removal_with_the_single_opencv_source():
    c = candidate(0)
    _, req = cf.removal_request(c, CFG)
    assert len(req.images) == 2
    out = cf.removal_check(c, emb([at(0.1), at(0.3)]), CFG)
    assert out is c and "chosen" not in c.meta.get("removal", {})


# ---- importance
@pytest.mark.parametrize("sim, kept", [(0.90, True), (0.95, True), (0.9501, False)])
def test_importance_drops_too_similar_images(sim, kept):
    c = candidate(2)
    _, req = cf.importance_request(c, CFG)
    assert req.images[0] is c.source and req.images[1] is c.image
    out = cf.importance_check(c, emb([[1.0, 0.0, 0.0], at(sim)], TEXT[:0]), CFG)
    assert isinstance(out, Candidate) is kept and c.candidates == []
    if not kept:
        assert (out.stage, out.reason) == ("importance", "unimportant")


# ---- wiring and config
def test_stage_names_sit_in_pipes_order_in_the_funnel():
    assert [s for s in order() if s in QUALITY or s in ("filter", "remove", "blend")] == [
        "filter", "clip_prefilter", "remove", "consensus", "removal_score", "importance", "importance_dino", "blend"]


def test_stages_set_off_are_left_out():
    cfg = QualityConfig(kind="clip", stages=("removal_score",))
    assert [s for s in QUALITY if quality_step(cfg, s)] == ["removal_score"]
    assert all(quality_step(QualityConfig(), s) is None for s in QUALITY)


@pytest.mark.parametrize("override, key", [
    ("quality.max_consensus=-0.1", "quality.max_consensus"),
    ("quality.context_blur=4", "quality.context_blur"),
    ("quality.class_prompt='a {thing}'", "quality.class_prompt"),
    ("quality.kind=dino", "quality.kind"),
])
def test_bad_quality_keys_are_named(override, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_config(None, [override])


def test_an_unknown_check_is_named_when_the_chain_is_built():
    from pipelines.chain import stage_chain
    cfg = load_config(None, ["quality.stages=[clip_prefilter, contrast]"])   # a typo, even with quality off
    with pytest.raises(ConfigError, match=r"quality\.stages: 'contrast' is not allowed; choose one of "
                                          r"clip_prefilter, .*, importance_dino"):
        stage_chain(cfg)


def test_consensus_needs_several_diffusion_candidates():
    with pytest.raises(ConfigError, match="consensus"):
        load_config(None, ["quality.kind=clip"])   # opencv removal: one result
    load_config(None, ["quality.kind=clip", "quality.stages=[clip_prefilter, removal_score, importance]"])
    load_config(None, ["quality.kind=clip", "removal.kind=diffusion"])


# ---- importance_dino (optional second metric)
@pytest.mark.parametrize("sim, kept", [(0.90, True), (0.95, True), (0.9501, False)])
def test_dino_importance_drops_above_its_threshold(sim, kept):
    c = candidate(2)
    step = QUALITY["importance_dino"]
    _, req = step.pre(c, CFG)
    assert req.images[0] is c.source and req.images[1] is c.image and req.texts == []
    out = step.post(c, emb([[1.0, 0.0, 0.0], at(sim)], TEXT[:0]), CFG)
    assert isinstance(out, Candidate) is kept and c.candidates == []
    assert c.scores["dino_similarity"] == pytest.approx(sim)
    if not kept:
        assert (out.stage, out.reason) == ("importance_dino", "unimportant") and "0.9501" in out.detail


def test_dino_runs_only_when_listed_and_uses_its_own_model_section():
    assert "importance_dino" not in QualityConfig().stages
    assert quality_step(QualityConfig(kind="clip"), "importance_dino") is None
    cfg = load_config(None, ["quality.kind=clip", "removal.kind=diffusion", "quality.dino.model=/m/dino",
                             "quality.stages=[clip_prefilter, consensus, removal_score, importance, importance_dino]"])
    step = quality_step(cfg.quality, "importance_dino")
    assert step.family == "dino" and step.section(cfg.quality).model == "/m/dino"
    from pipelines.chain import stage_chain
    names = [name for name, _, _ in stage_chain(cfg)]
    assert names[names.index("importance") + 1] == "importance_dino"
