"""Filter stage: score each candidate's mask, keep it or give the rule that dropped it.

This is where one image becomes its candidates. Rules (all in ``filters.*`` of the config) run in the
order of RULES; the first that fails names the reject reason. A new rule is one ``Rule`` line in RULES (its
score computed by its own ``measure``, by ``mask_scores`` or by the masker) and its key in the filters config
section: the report, ``retune`` and the card read RULES. Survivors are capped at
``filters.max_objects`` per image, largest first.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import cv2
import numpy as np

from configs.schema import FilterConfig
from transforms.core.records import Candidate, ImageRecord, Reject, reject
from transforms.core.stage import Threshold

STAGE = "filter"
_CROSS = np.ones((3, 3), np.uint8)


def mask_scores(mask: np.ndarray) -> dict[str, float]:
    """Area ratio, pixel count, border touch and largest-component share of an HxW bool mask."""
    m = mask.view(np.uint8)
    pixels = int(np.count_nonzero(m))
    h, w = m.shape
    eroded = cv2.erode(m, _CROSS, borderType=cv2.BORDER_CONSTANT, borderValue=0)
    outline = int(np.count_nonzero(m)) - int(np.count_nonzero(eroded))
    frame = (int(np.count_nonzero(m[0])) + int(np.count_nonzero(m[-1]))
             + int(np.count_nonzero(m[1:-1, 0])) + int(np.count_nonzero(m[1:-1, -1])))
    n, _, stats, _ = cv2.connectedComponentsWithStats(m, connectivity=8)
    largest = int(stats[1:, cv2.CC_STAT_AREA].max()) if n > 1 else 0
    return {
        "area_ratio": round(pixels / (h * w), 6),
        "pixels": float(pixels),
        "border_touch": round(frame / outline, 6) if outline else 0.0,
        "component_share": round(largest / pixels, 6) if pixels else 0.0,
    }


@dataclass(frozen=True)
class Rule(Threshold):
    """A filter rule: a Threshold on one of the candidate's scores; ``measure`` (HxW bool mask -> float)
    computes that score when neither ``mask_scores`` nor the masker records it."""
    measure: Callable[[np.ndarray], float] | None = None


RULES = (  # order = precedence of reasons; a rule whose score a candidate lacks is not applied
    Rule("sam_iou", "filters.min_sam_iou", "min", "low_sam_iou"),
    Rule("crop_kept", "filters.min_crop_kept", "min", "cut_by_crop"),
    Rule("pixels", "filters.min_pixels", "min", "too_few_pixels"),
    Rule("area_ratio", "filters.min_area_ratio", "min", "area_too_small"),
    Rule("area_ratio", "filters.max_area_ratio", "max", "area_too_large"),
    Rule("border_touch", "filters.max_border_touch", "max", "touches_border"),
    Rule("component_share", "filters.min_component_share", "min", "fragmented"),
)


def failing_rule(c: Candidate, cfg: FilterConfig) -> Rule | None:
    """Score ``c`` in place; return the first rule it fails, or None to keep it."""
    c.scores.update(mask_scores(c.mask))
    for rule in RULES:
        if rule.measure is not None and rule.score not in c.scores:
            c.scores[rule.score] = round(float(rule.measure(c.mask)), 6)
        if rule.score in c.scores and not rule.passes(c.scores[rule.score], rule.limit(cfg)):
            return rule
    return None


def check_candidate(c: Candidate, cfg: FilterConfig) -> str | None:
    """Score ``c`` in place; return the failing rule's reason, or None to keep it."""
    rule = failing_rule(c, cfg)
    return rule.reason if rule else None


def filter_candidates(rec: ImageRecord, cfg: FilterConfig) -> list[Candidate | Reject]:
    """All candidates of one image -> kept candidates and rejects (one per dropped candidate)."""
    out: list = []
    kept = []
    for c in rec.candidates:
        rule = failing_rule(c, cfg)
        if rule is None:
            kept.append(c)
        else:
            out.append(reject(c, STAGE, rule.reason, f"{rule.score}={c.scores[rule.score]}"))
    kept.sort(key=lambda c: (-c.scores["pixels"], c.key))
    if cfg.max_objects and len(kept) > cfg.max_objects:
        out += [reject(c, STAGE, "over_max_objects", f"max_objects={cfg.max_objects}")
                for c in kept[cfg.max_objects:]]
        kept = kept[: cfg.max_objects]
    rec.candidates = []
    return kept + out
