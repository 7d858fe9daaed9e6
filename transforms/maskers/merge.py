"""One object that two sources of a mix both annotated (an LVIS and a COCO mask of one car) is one candidate.

The plan put the preferred source's objects first (transforms/sources/mix.py); here, in the output frame, a
candidate whose mask overlaps an earlier kept candidate *of another source* by ``source.merge_iou`` (mask
IoU) or more is a reject ``propose/duplicate_object`` naming the kept key. Candidates of one source are
never compared: COCO's own overlapping objects (a rider on a horse) stay apart.
"""
from __future__ import annotations

import numpy as np

from transforms.core.records import Candidate, ImageRecord, Reject, reject

REASON = "duplicate_object"


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of two HxW bool masks (0 when both are empty)."""
    union = np.count_nonzero(a | b)
    return np.count_nonzero(a & b) / union if union else 0.0


def _box(mask: np.ndarray) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(mask.any(axis=1))[0], np.nonzero(mask.any(axis=0))[0]
    return int(ys[0]), int(ys[-1]), int(xs[0]), int(xs[-1])


def _apart(a: tuple, b: tuple) -> bool:
    return a[1] < b[0] or b[1] < a[0] or a[3] < b[2] or b[3] < a[2]


def merge_duplicates(rec: ImageRecord, threshold: float, stage: str) -> list[Reject]:
    """Drop from ``rec.candidates`` (in order) each one that duplicates an earlier kept candidate of another
    source; returns their rejects. Nothing happens to an image whose candidates are all of one source."""
    def source(c: Candidate) -> str:
        return c.meta["source"]["dataset"]
    if len({source(c) for c in rec.candidates}) < 2:
        return []
    kept: list[tuple[Candidate, tuple]] = []
    rejects = []
    for c in rec.candidates:
        box = _box(c.mask)
        best = max(((mask_iou(c.mask, k.mask), k) for k, kbox in kept
                    if source(k) != source(c) and not _apart(box, kbox)), key=lambda t: t[0], default=None)
        if best is not None and best[0] >= threshold:
            rejects.append(reject(c, stage, REASON, f"mask IoU {best[0]:.3f} with {best[1].key} "
                                                    f"({source(best[1])}'s, kept)"))
        else:
            kept.append((c, box))
    rec.candidates = [c for c, _ in kept]
    return rejects
