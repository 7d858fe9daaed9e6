"""The ``sam`` masker: SAM's automatic masks (every object SAM finds, unlabelled), through RunInference.

The model sees the loaded image (output frame), so its masks need no resize and nothing of them was cut by
the crop. SAM's predicted IoU and stability go to ``Candidate.scores``; unlabelled masks get
``masks.unlabelled_class``; the checkpoint goes to ``meta['masks']`` and ``meta['models']['masks']``.
"""
from __future__ import annotations

from operator import attrgetter

from configs.schema import Config
from model_wrappers.types import MaskProposal, SegmentRequest
from transforms.core.records import ImageRecord
from transforms.core.stage import ModelStep
from transforms.maskers.candidates import from_proposals


def sam_request(rec: ImageRecord, cfg: Config) -> tuple[ImageRecord, SegmentRequest]:
    """Loaded image -> (record, request for SAM automatic masks)."""
    return rec, SegmentRequest(image=rec.image)


def sam_candidates(rec: ImageRecord, proposals: list[MaskProposal], cfg: Config) -> list:
    model = cfg.masks.sam.model
    return from_proposals(rec, proposals, cfg.masks.unlabelled_class, {"kind": "sam", "model": model}, [model],
                          layout="file")


SAM = ModelStep(sam_request, sam_candidates, "sam", attrgetter("masks.sam"))
