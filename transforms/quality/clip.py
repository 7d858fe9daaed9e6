"""PIPE's quality filters (paper section 3, supplement E): four model stages around one CLIP scorer.

Each stage is pure pre (record -> ``EmbedRequest``) -> RunInference (model_wrappers/clip.py) -> pure post
(record, ``Embeddings`` -> record or Reject). Embeddings are unit length, so a similarity is a dot.

- ``clip_prefilter`` (after the mask filters, before removal): the object's crop vs "a photo of a <class>";
  below ``quality.min_class_similarity`` -> reject ``low_class_similarity``.
- ``consensus``: total std of the N removal candidates' region embeddings; above ``quality.max_consensus``
  -> reject ``inconsistent_candidates``.
- ``removal_score``: each candidate's region view vs the class name; a candidate passes at or below
  ``quality.max_removal_score``, or above it when the original's score exceeds its own by more than
  ``quality.removal_margin``. The passing candidate with the lowest score becomes the source; none passing
  -> reject ``object_still_visible``.
- ``importance``: whole source vs whole target; above ``quality.max_importance`` -> reject ``unimportant``.

Scores go to ``Candidate.scores`` (the pair's json): clip_class, consensus_std, removal_score,
removal_score_original, importance_similarity. The optional DINOv2 metric is quality/dino.py.
"""
from __future__ import annotations

from operator import attrgetter

import cv2
import numpy as np

from configs.schema import QualityConfig
from model_wrappers.locate import record_models
from model_wrappers.types import Embeddings, EmbedRequest
from transforms.core.geometry import box_around, dilate
from transforms.core.records import Candidate, Reject, reject
from transforms.core.stage import ModelStep, Threshold
from transforms.core.text import class_words


def object_crop(image: np.ndarray, mask: np.ndarray, margin: float) -> np.ndarray:
    """The HxW bool mask's box grown by ``margin`` x its size on each side, cut from HxWx3 ``image``."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    pad = int(round(margin * max(rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1)))
    ys, xs = box_around(mask, pad)
    return image[ys, xs]


def context_alpha(mask: np.ndarray, cfg: QualityConfig) -> np.ndarray:
    """HxW float32 in [0, 1]: the HxW bool mask dilated by ``context_dilate`` px, blurred by ``context_blur``."""
    grown = dilate(mask, cfg.context_dilate).astype(np.float32)
    return np.clip(cv2.GaussianBlur(grown, (cfg.context_blur, cfg.context_blur), 0), 0.0, 1.0)


def region_view(image: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Supplement E.1's view of a region: ``image`` (HxWx3 uint8) where ``alpha`` (HxW float) is 1, its mean
    colour where 0, blended between; cut to the box where alpha > 0. Returns hxwx3 uint8."""
    mean = image.reshape(-1, 3).mean(axis=0, dtype=np.float64).astype(np.float32)
    ys, xs = box_around(alpha > 0, 0)
    a = alpha[ys, xs, None]
    view = a * image[ys, xs].astype(np.float32) + (1.0 - a) * mean
    return np.clip(view + 0.5, 0, 255).astype(np.uint8)


def removal_candidates(c: Candidate) -> list[np.ndarray]:
    """The N removal results (HxWx3 uint8) a diffusion remover left, else the one source."""
    if c.candidates:
        return c.candidates
    if c.source is None:
        raise ValueError("no removal result: the quality checks after removal need the remove stage first")
    return [c.source]


def total_std(embeddings: np.ndarray) -> float:
    """Total standard deviation of N unit embeddings (NxD): sqrt(sum over D of the per-dimension variance),
    i.e. the RMS distance to their mean; sqrt((N-1)/N * (1 - mean pairwise cosine))."""
    if len(embeddings) < 2:
        raise ValueError(f"consensus needs at least 2 candidates, got {len(embeddings)}")
    return float(np.sqrt(embeddings.astype(np.float64).var(axis=0).sum()))


def _score(c: Candidate, name: str, value: float) -> float:
    c.scores[name] = round(float(value), 6)
    return c.scores[name]


def tested(c: Candidate, check: Threshold, value: float, stage: str, cfg: QualityConfig) -> Candidate | Reject:
    """``c`` when ``value`` passes ``check`` under ``cfg``, else its reject at ``stage``."""
    limit = check.limit(cfg)
    return c if check.passes(value, limit) else reject(c, stage, check.reason, check.detail(value, limit))


PREFILTER = Threshold("clip_class", "quality.min_class_similarity", "min", "low_class_similarity")
CONSENSUS = Threshold("consensus_std", "quality.max_consensus", "max", "inconsistent_candidates")
# kept also when the object's score fell by more than quality.removal_margin (``passing``)
REMOVAL = Threshold("removal_score", "quality.max_removal_score", "max", "object_still_visible")
IMPORTANCE = Threshold("importance_similarity", "quality.max_importance", "max", "unimportant")


# ---- clip_prefilter ---------------------------------------------------------------------------------------
def prefilter_request(c: Candidate, cfg: QualityConfig) -> tuple[Candidate, EmbedRequest]:
    text = cfg.class_prompt.format(**class_words(c.class_name))
    return c, EmbedRequest(images=[object_crop(c.image, c.mask, cfg.crop_margin)], texts=[text])


def prefilter_check(c: Candidate, e: Embeddings, cfg: QualityConfig) -> Candidate | Reject:
    record_models(c.meta, "clip_prefilter", cfg.clip.model)
    return tested(c, PREFILTER, _score(c, "clip_class", e.images[0] @ e.texts[0]), "clip_prefilter", cfg)


# ---- consensus --------------------------------------------------------------------------------------------
def consensus_request(c: Candidate, cfg: QualityConfig) -> tuple[Candidate, EmbedRequest]:
    alpha = context_alpha(c.mask, cfg)
    return c, EmbedRequest(images=[region_view(im, alpha) for im in removal_candidates(c)], texts=[])


def consensus_check(c: Candidate, e: Embeddings, cfg: QualityConfig) -> Candidate | Reject:
    record_models(c.meta, "consensus", cfg.clip.model)
    return tested(c, CONSENSUS, _score(c, "consensus_std", total_std(e.images)), "consensus", cfg)


# ---- removal_score ----------------------------------------------------------------------------------------
def removal_request(c: Candidate, cfg: QualityConfig) -> tuple[Candidate, EmbedRequest]:
    """Images: one region view per candidate, then the original's; text: the class name."""
    alpha = context_alpha(c.mask, cfg)
    views = [region_view(im, alpha) for im in [*removal_candidates(c), c.image]]
    return c, EmbedRequest(images=views, texts=[cfg.removal_prompt.format(**class_words(c.class_name))])


def passing(scores: list[float], original: float, cfg: QualityConfig) -> list[int]:
    """Indices of candidates that pass: score <= max, or original - score > margin."""
    return [i for i, s in enumerate(scores)
            if s <= cfg.max_removal_score or original - s > cfg.removal_margin]


def removal_check(c: Candidate, e: Embeddings, cfg: QualityConfig) -> Candidate | Reject:
    """Score every candidate; keep the passing one with the lowest score as ``c.source``."""
    record_models(c.meta, "removal_score", cfg.clip.model)
    sims = [round(float(v), 6) for v in e.images @ e.texts[0]]
    scores, original = sims[:-1], _score(c, "removal_score_original", sims[-1])
    removal = c.meta.setdefault("removal", {})
    removal["clip_scores"] = scores
    ok = passing(scores, original, cfg)
    if not ok:
        c.candidates = []
        return reject(c, "removal_score", REMOVAL.reason,
                      f"removal_score={min(scores)} > max_removal_score={cfg.max_removal_score}, "
                      f"original={original}, margin={cfg.removal_margin}")
    best = min(ok, key=lambda i: (scores[i], i))
    _score(c, "removal_score", scores[best])
    if c.candidates:
        c.source = c.candidates[best]
        usable = removal.get("candidates", list(range(len(c.candidates))))
        removal["chosen"], removal["chosen_by"] = usable[best], "removal_score"
        if "ring_delta" in removal:
            c.scores["removal_ring_delta"] = removal["ring_delta"][usable[best]]
    c.candidates = []
    return c


# ---- importance -------------------------------------------------------------------------------------------
def importance_request(c: Candidate, cfg: QualityConfig) -> tuple[Candidate, EmbedRequest]:
    if c.source is None:
        raise ValueError("no removal result: importance needs the remove stage first")
    return c, EmbedRequest(images=[c.source, c.image], texts=[])


def too_similar(c: Candidate, e: Embeddings, stage: str, check: Threshold, cfg: QualityConfig) -> Candidate | Reject:
    """Cosine of whole source and whole target into ``c.scores[check.score]``, tested by ``check``."""
    s = _score(c, check.score, e.images[0] @ e.images[1])
    c.candidates = []
    return tested(c, check, s, stage, cfg)


def importance_check(c: Candidate, e: Embeddings, cfg: QualityConfig) -> Candidate | Reject:
    record_models(c.meta, "importance", cfg.clip.model)
    return too_similar(c, e, "importance", IMPORTANCE, cfg)


_CLIP = attrgetter("clip")
CLIP_STAGES = {  # stage name -> ModelStep, in PIPE's order
    "clip_prefilter": ModelStep(prefilter_request, prefilter_check, "clip", _CLIP, (PREFILTER,),
                                ("class_prompt", "crop_margin"), "quality.clip.model", after="filter"),
    "consensus": ModelStep(consensus_request, consensus_check, "clip", _CLIP, (CONSENSUS,), (), "quality.clip.model",
                           after="remove"),
    "removal_score": ModelStep(removal_request, removal_check, "clip", _CLIP, (REMOVAL,), ("removal_margin",),
                               "quality.clip.model", after="remove"),
    "importance": ModelStep(importance_request, importance_check, "clip", _CLIP, (IMPORTANCE,), (),
                            "quality.clip.model", after="remove"),
}
