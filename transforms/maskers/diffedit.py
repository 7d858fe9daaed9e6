"""The ``diffedit`` masker: DiffEdit masks (arXiv 2210.11427) for the classes the source names, via RunInference.

No segmentation model: a text-to-image diffusion model (``masks.diffedit.model``) predicts the noise of the
noised image under a query prompt that names the class and a reference prompt that does not; where they
differ is the object (model_wrappers/diffedit.py). The classes are the image's own objects as the source
names them (annotations, Open Images labels, the classes a caption names through ``source.vocabulary``);
an image naming none is the reject 'no_classes'. Prompts: with ``caption_prompts`` and a caption that names
the class, the query is the caption and the reference the caption without the class; otherwise
``query_prompt`` and ``reference_prompt``. Every parameter and both prompts go to the pair's json
(``meta['masks']``); an empty mask is the candidate reject 'empty_mask'.
"""
from __future__ import annotations

import re
from operator import attrgetter

from configs.schema import Config, DiffEditConfig
from model_wrappers.types import DiffEditRequest, MaskProposal
from transforms.core.keys import key_seed
from transforms.core.records import ImageRecord, Reject, reject
from transforms.core.stage import ModelStep
from transforms.maskers.candidates import STAGE, from_proposals


def image_classes(rec: ImageRecord, cfg: DiffEditConfig) -> tuple[str, ...]:
    """The distinct class names of the image's objects, in the source's order, at most ``max_classes``."""
    names = [o.class_name.strip() for o in rec.objects if o.class_name.strip() and not o.iscrowd]
    return tuple(dict.fromkeys(names))[: cfg.max_classes]


def prompts(cls: str, caption: str, cfg: DiffEditConfig) -> tuple[str, str]:
    """(query, reference) for one class: the caption and the caption without the class when the caption
    names it (and ``caption_prompts``), else the configured templates."""
    words = re.compile(rf"\b(?:(?:a|an|the)\s+)?{re.escape(cls)}\b", re.IGNORECASE)   # with its article
    without = " ".join(words.sub("", caption).split())
    if cfg.caption_prompts and caption and words.search(caption):
        return caption, without
    fill = {"class": cls, "caption": caption, "caption_without": without}
    return cfg.query_prompt.format(**fill), cfg.reference_prompt.format(**fill)


def diffedit_request(rec: ImageRecord, cfg: Config) -> tuple[ImageRecord, DiffEditRequest] | Reject:
    """Loaded image -> (record, request: one prompt pair per class), or the reject of an image naming none."""
    d = cfg.masks.diffedit
    classes = image_classes(rec, d)
    if not classes:
        return reject(rec, STAGE, "no_classes", "the source names no object class for this image")
    caption = str(rec.meta.get("caption") or "").strip()
    pairs = [prompts(cls, caption, d) for cls in classes]
    return rec, DiffEditRequest(image=rec.image, labels=classes, queries=tuple(q for q, _ in pairs),
                                references=tuple(r for _, r in pairs), seed=key_seed(rec.key, d.seed))


def diffedit_candidates(rec: ImageRecord, proposals: list[MaskProposal], cfg: Config) -> list:
    """One candidate per class whose mask is not empty (an empty one is a reject), parameters in the meta."""
    d = cfg.masks.diffedit
    caption = str(rec.meta.get("caption") or "").strip()
    named = {"kind": "diffedit", "model": d.model, "size": d.size, "noise_draws": d.noise_draws,
             "strength": d.strength, "clamp_ratio": d.clamp_ratio, "threshold": d.threshold,
             "seed": key_seed(rec.key, d.seed)}
    out = from_proposals(rec, proposals, cfg.masks.unlabelled_class, named, [d.model], layout="diffusers")
    for c in rec.candidates:
        c.meta["masks"]["query"], c.meta["masks"]["reference"] = prompts(c.class_name, caption, d)
    return out


DIFFEDIT = ModelStep(diffedit_request, diffedit_candidates, "diffedit", attrgetter("masks.diffedit"))
