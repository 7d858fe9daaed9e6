"""Propose stage with a model: SAM automatic masks or Grounded-SAM, through RunInference.

The model sees the loaded image (output frame), so its masks need no resize and nothing of them was cut
by the crop (``crop_kept`` = 1). Mask scores (SAM predicted IoU and stability; box score and SAM IoU) go
into ``Candidate.scores``; the models into ``meta['masks']`` (``model``, ``sam_model``) and, as a list,
``meta['models']['masks']``. Unlabelled masks get
``masks.unlabelled_class``.
"""
from __future__ import annotations

from operator import attrgetter

from configs.schema import Config
from model_wrappers.types import MaskProposal, SegmentRequest
from transforms.model_step import ModelStep
from transforms.propose import make_candidate
from transforms.record import ImageRecord, ObjectRef, Reject, reject_image, safe_key

STAGE = "propose"


def grounding_prompts(rec: ImageRecord, cfg: Config) -> tuple[str, ...]:
    """Text prompts for one image: the config's class list, the image's own categories, or its caption."""
    g = cfg.masks.grounding
    if g.prompt_source == "config":
        return g.prompts
    if g.prompt_source == "categories":
        return tuple(sorted({o.class_name for o in rec.objects if o.class_name and not o.iscrowd}))
    caption = str(rec.meta.get("caption") or "").strip()
    return (caption,) if caption else ()


def sam_request(rec: ImageRecord, cfg: Config) -> tuple[ImageRecord, SegmentRequest]:
    """Loaded image -> (record, request for SAM automatic masks)."""
    return rec, SegmentRequest(image=rec.image)


def grounding_request(rec: ImageRecord, cfg: Config) -> tuple[ImageRecord, SegmentRequest] | Reject:
    """Loaded image -> (record, request with its text prompts), or a reject when it has none."""
    labels = grounding_prompts(rec, cfg)
    if not labels:
        return reject_image(rec, STAGE, "no_prompts", f"prompt_source={cfg.masks.grounding.prompt_source}")
    return rec, SegmentRequest(image=rec.image, labels=labels)


def _masks_meta(cfg: Config) -> tuple[dict, list[str]]:
    """(the masker's metadata naming its models, the models as a list for ``meta['models']``)."""
    if cfg.masks.kind == "grounded_sam":
        g = cfg.masks.grounding
        return {"kind": "grounded_sam", "model": g.model, "sam_model": g.sam_model}, [g.model, g.sam_model]
    return {"kind": cfg.masks.kind, "model": cfg.masks.sam.model}, [cfg.masks.sam.model]


def proposals_to_candidates(rec: ImageRecord, proposals: list[MaskProposal], cfg: Config) -> list:
    """Model masks (HxW bool, output frame) -> the record with one candidate each, plus rejects."""
    if not proposals:
        return [reject_image(rec, STAGE, "no_masks")]
    named, models = _masks_meta(cfg)
    category = {o.class_name: o.category_id for o in rec.objects}
    out: list = []
    for i, p in enumerate(proposals):
        if p.mask.shape != rec.image.shape[:2]:
            raise ValueError(f"mask {p.mask.shape} does not match image {rec.image.shape[:2]}")
        name = p.label or cfg.masks.unlabelled_class
        obj = ObjectRef(ann_id=f"m{i:03d}", category_id=category.get(name, -1), class_name=name,
                        scores=dict(p.scores))
        if not p.mask.any():
            out.append(Reject(safe_key(rec.key, obj.ann_id), rec.shard, rec.key, "candidate", STAGE, "empty_mask"))
            continue
        c = make_candidate(rec, obj, p.mask, 1.0)
        c.meta["masks"] = {**named, "label": p.label,
                           "box_xyxy": [round(v, 2) for v in p.box_xyxy] if p.box_xyxy else None}
        c.meta.setdefault("models", {})["masks"] = models
        rec.candidates.append(c)
    return ([rec] if rec.candidates else []) + out


MODEL_MASKERS = {
    "sam": ModelStep(sam_request, proposals_to_candidates, "sam", attrgetter("masks.sam")),
    "grounded_sam": ModelStep(grounding_request, proposals_to_candidates, "grounded_sam",
                              attrgetter("masks.grounding")),
}
