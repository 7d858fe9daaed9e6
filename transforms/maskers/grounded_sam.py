"""The ``grounded_sam`` masker: GroundingDINO boxes for text prompts, SAM masks in them, via RunInference.

Prompts come from the config's class list, the image's own categories, or its caption
(``masks.grounding.prompt_source``); an image with none is rejected (``no_prompts``). A box whose detected phrase matches none of the prompts (``[sep]``, ``object``) is
rejected as ``propose/unmatched_label``, never made a class. Box score and SAM IoU
go to ``Candidate.scores``; both models to ``meta['masks']`` and ``meta['models']['masks']``.
"""
from __future__ import annotations

from operator import attrgetter

from configs.schema import Config
from model_wrappers.types import MaskProposal, SegmentRequest
from transforms.core.records import ImageRecord, Reject, reject
from transforms.core.stage import ModelStep
from transforms.maskers.candidates import STAGE, from_proposals


def grounding_prompts(rec: ImageRecord, cfg: Config) -> tuple[str, ...]:
    """Text prompts for one image: the config's class list, the image's own categories, or its caption."""
    g = cfg.masks.grounding
    if g.prompt_source == "config":
        return g.prompts
    if g.prompt_source == "categories":
        return tuple(sorted({o.class_name for o in rec.objects if o.class_name and not o.iscrowd}))
    caption = str(rec.meta.get("caption") or "").strip()
    return (caption,) if caption else ()


def grounding_request(rec: ImageRecord, cfg: Config) -> tuple[ImageRecord, SegmentRequest] | Reject:
    """Loaded image -> (record, request with its text prompts), or a reject when it has none."""
    labels = grounding_prompts(rec, cfg)
    if not labels:
        return reject(rec, STAGE, "no_prompts", f"prompt_source={cfg.masks.grounding.prompt_source}")
    return rec, SegmentRequest(image=rec.image, labels=labels)


def grounded_candidates(rec: ImageRecord, proposals: list[MaskProposal], cfg: Config) -> list:
    g = cfg.masks.grounding
    named = {"kind": "grounded_sam", "model": g.model, "sam_model": g.sam_model}
    return from_proposals(rec, proposals, cfg.masks.unlabelled_class, named, [g.model, g.sam_model],
                          prompts=grounding_prompts(rec, cfg))


GROUNDED_SAM = ModelStep(grounding_request, grounded_candidates, "grounded_sam", attrgetter("masks.grounding"))
