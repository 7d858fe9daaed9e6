"""What every masker shares: an object's mask becomes a ``Candidate`` with the source's facts in its meta.

Masks are HxW bool in the output frame (the loaded image's); ``crop_kept`` is the share of the object the
centre crop kept (1 for masks a model or a brush drew on the loaded image).
"""
from __future__ import annotations

import numpy as np

from model_wrappers.locate import record_models
from model_wrappers.types import MaskProposal
from transforms.core.geometry import bbox_xyxy
from transforms.core.records import (Candidate, ImageRecord, ObjectRef, Reject, dataset_of_object, object_key, reject,
                                     reject_object)

STAGE = "propose"


def make_candidate(rec: ImageRecord, obj: ObjectRef, mask: np.ndarray, crop_kept: float) -> Candidate:
    meta = {
        "source": {"dataset": dataset_of_object(rec, obj), "image_id": rec.source_id, "ann_id": obj.ann_id,
                   "file_name": rec.meta.get("file_name", "")},
        "licence": rec.meta.get("licence", ""), "licence_url": rec.meta.get("licence_url", ""),
        "url": rec.meta.get("url", ""), "bbox_xyxy": bbox_xyxy(mask),
        "size_hw": list(mask.shape), "orig_size_hw": list(rec.orig_hw),
    }
    if rec.meta.get("caption"):
        meta["caption"] = rec.meta["caption"]
    if rec.meta.get("colour"):
        meta["colour"] = rec.meta["colour"]   # the embedded ICC profile converted to sRGB on load
    scores = {"crop_kept": round(crop_kept, 6), **obj.scores}
    return Candidate(key=object_key(rec, obj), shard=rec.shard, image_key=rec.key,
                     class_name=obj.class_name, category_id=obj.category_id, image=rec.image, mask=mask,
                     scores=scores, meta=meta)


def with_candidates(rec: ImageRecord, rejects: list[Reject]) -> list[ImageRecord | Reject]:
    """A masker's output: the record when it has candidates, then the rejects of the objects that did not."""
    return ([rec] if rec.candidates else []) + rejects


def prompt_match(label: str, prompts: tuple[str, ...]) -> bool:
    """True when ``label`` is one of ``prompts`` or a run of whole words inside one (a caption's phrase)."""
    words = label.lower().split()
    if not words:
        return False
    for prompt in prompts:
        pw = prompt.lower().split()
        if any(pw[i:i + len(words)] == words for i in range(len(pw) - len(words) + 1)):
            return True
    return False


def from_proposals(rec: ImageRecord, proposals: list[MaskProposal], unlabelled_class: str, masks_meta: dict,
                   models: list[str], prompts: tuple[str, ...] | None = None,
                   layout: str = "transformers") -> list[ImageRecord | Reject]:
    """A model masker's masks (HxW bool, output frame) -> the record with one candidate each, plus rejects.
    ``masks_meta`` (the masker's kind and models) goes to ``meta['masks']``, ``models`` (stored as ``layout``:
    transformers, diffusers, file) to ``meta['models']['masks']`` through ``record_models``, as every model
    stage names its models. With ``prompts`` (a text-prompted masker), a mask whose label matches none
    of them is rejected (``unmatched_label``) instead of becoming a class."""
    if not proposals:
        return [reject(rec, STAGE, "no_masks")]
    category = {o.class_name: o.category_id for o in rec.objects}
    out: list = []
    for i, p in enumerate(proposals):
        if p.mask.shape != rec.image.shape[:2]:
            raise ValueError(f"mask {p.mask.shape} does not match image {rec.image.shape[:2]}")
        if prompts is not None and not prompt_match(p.label, prompts):
            key = object_key(rec, ObjectRef(ann_id=f"m{i:03d}", category_id=-1, class_name=p.label))
            out.append(reject_object(rec, key, STAGE, "unmatched_label", f"label={p.label!r}"))
            continue
        name = p.label or unlabelled_class
        obj = ObjectRef(ann_id=f"m{i:03d}", category_id=category.get(name, -1), class_name=name,
                        scores=dict(p.scores))
        if not p.mask.any():
            out.append(reject_object(rec, object_key(rec, obj), STAGE, "empty_mask"))
            continue
        c = make_candidate(rec, obj, p.mask, 1.0)
        c.meta["masks"] = {**masks_meta, "label": p.label,
                           "box_xyxy": [round(v, 2) for v in p.box_xyxy] if p.box_xyxy else None}
        record_models(c.meta, "masks", *models, layout=layout)
        rec.candidates.append(c)
    return with_candidates(rec, out)
