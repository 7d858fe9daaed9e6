"""Filter stage: score each candidate's mask, keep it or give the rule that dropped it.

This is where one image becomes its candidates. Rules (all in ``filters.*`` of the config) run in the
order of RULES; the first that fails names the reject reason. Survivors are capped at
``filters.max_objects`` per image, largest first.
"""
from __future__ import annotations

import cv2
import numpy as np

from configs.schema import FilterConfig
from transforms.core.records import Candidate, ImageRecord, Reject, reject

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


RULES = (  # (reason, score, test that passes); order = precedence of reasons
    ("low_sam_iou", "sam_iou", lambda v, f: f.min_sam_iou is None or v >= f.min_sam_iou),  # None = off
    ("cut_by_crop", "crop_kept", lambda v, f: v >= f.min_crop_kept),
    ("too_few_pixels", "pixels", lambda v, f: v >= f.min_pixels),
    ("area_too_small", "area_ratio", lambda v, f: v >= f.min_area_ratio),
    ("area_too_large", "area_ratio", lambda v, f: v <= f.max_area_ratio),
    ("touches_border", "border_touch", lambda v, f: v <= f.max_border_touch),
    ("fragmented", "component_share", lambda v, f: v >= f.min_component_share),
)


def check_candidate(c: Candidate, cfg: FilterConfig) -> str | None:
    """Score ``c`` in place; return the failing rule's reason, or None to keep it."""
    c.scores.update(mask_scores(c.mask))
    for reason, score, passes in RULES:
        if score in c.scores and not passes(c.scores[score], cfg):
            return reason
    return None


def filter_candidates(rec: ImageRecord, cfg: FilterConfig) -> list[Candidate | Reject]:
    """All candidates of one image -> kept candidates and rejects (one per dropped candidate)."""
    out: list = []
    kept = []
    for c in rec.candidates:
        reason = check_candidate(c, cfg)
        if reason is None:
            kept.append(c)
        else:
            rule = next(r for r in RULES if r[0] == reason)
            out.append(reject(c, STAGE, reason, f"{rule[1]}={c.scores[rule[1]]}"))
    kept.sort(key=lambda c: (-c.scores["pixels"], c.key))
    if cfg.max_objects and len(kept) > cfg.max_objects:
        out += [reject(c, STAGE, "over_max_objects", f"max_objects={cfg.max_objects}")
                for c in kept[cfg.max_objects:]]
        kept = kept[: cfg.max_objects]
    rec.candidates = []
    return kept + out
