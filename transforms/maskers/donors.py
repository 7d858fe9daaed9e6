"""BrushData-v2 with shapes a model finds (``masks.borrowed.donors: grounded_sam | sam``): the donor pass.

Annotation donors are chosen while planning (borrowed.plan_donors). A model's shapes exist only once the
model has seen the images, so such a run looks at each shard twice inside the graph:

1. find: load -> the model masker (the ModelStep of ``masks.kind: grounded_sam | sam``, same settings) ->
   ``shapes_of``: one small ``Shapes`` per image: how many objects the model found and the share of the
   frame they cover (the clean-background test), and the largest ``masks.borrowed.max_donors_per_image``
   found shapes that pass ``filters.*``, as COCO RLE (what it may lend). The image bytes end here (a
   download is kept on disk for the second pass); an image the pass drops keeps its Reject (``dropped``).
2. pair: the ``Shapes`` of one shard, grouped by shard -> ``pair_shard``: each image draws a donor from the
   other images of its shard, seeded by its key (``borrowed.draw_donor``, the plan-time rule), and that
   pairing rides on its plan record (small, no image bytes: ``with_pairing``) into the ordinary chain,
   which loads the image again and runs ``propose_borrowed``.

The pool is the image's own shard, not the whole run: a shard is built whole or not at all, so a resumed
run, a slice and a wave pair exactly as one clean build does, and no worker waits for the whole run.
"""
from __future__ import annotations

from typing import Iterable

import numpy as np

from configs.schema import Config
from transforms.core.masks import coco_rle
from transforms.core.records import ImageRecord, Reject, Shapes
from transforms.core.stage import ModelStep
from transforms.maskers.borrowed import DONOR, FAILED, FOUND, draw_donor
from transforms.maskers.grounded_sam import GROUNDED_SAM
from transforms.maskers.sam import SAM
from transforms.stages.filter import check_candidate

MODEL_DONORS = {"grounded_sam": GROUNDED_SAM, "sam": SAM}   # masks.borrowed.donors -> its masker


def shapes_of(rec: ImageRecord, proposals, cfg: Config) -> Shapes:
    """The model's masks of one loaded image -> its ``Shapes``: every mask the masker keeps counts for the
    clean test; the largest ``max_donors_per_image`` of those that also pass ``filters.*`` may be lent.
    Masks a text-prompted masker rejects (labels it was not asked for, empty masks) are not objects."""
    masker = MODEL_DONORS[cfg.masks.borrowed.donors]
    found = [c for out in masker.post(rec, proposals, cfg) if isinstance(out, ImageRecord) for c in out.candidates]
    union = np.zeros(rec.image.shape[:2], bool)
    for c in found:
        union |= c.mask
    h, w = rec.image.shape[:2]
    b = cfg.masks.borrowed
    lendable = sorted((c for c in found if check_candidate(c, cfg.filters) is None),
                      key=lambda c: (-c.scores["pixels"], c.key))[: b.max_donors_per_image]
    donors = [{"ann_id": c.meta["source"]["ann_id"], "class_name": c.class_name, "segmentation": coco_rle(c.mask),
               "height": h, "width": w, "masker": b.donors, "models": list(c.meta.get("models", {}).get("masks", []))}
              for c in sorted(lendable, key=lambda c: c.key)]
    rec.candidates = []
    return Shapes(rec.key, rec.shard, len(found), round(float(union.mean()), 6), donors)


DONOR_PASS = {name: ModelStep(step.pre, shapes_of, step.family, step.section) for name, step in MODEL_DONORS.items()}


def donor_step(cfg: Config) -> ModelStep | None:
    """The first pass's model step when the run's donors are a model's, else None (annotations: planned)."""
    b = cfg.masks.borrowed
    return DONOR_PASS.get(b.donors) if cfg.masks.kind == "borrowed" else None


def dropped(r: Reject) -> Shapes:
    """An image the first pass dropped (unreadable, no prompts, inference failed): it lends nothing, and the
    second pass rejects it with the same reason unless its own load fails first."""
    return Shapes(r.image_key, r.shard, failed=r)


def pair_shard(shard_shapes: tuple[int, Iterable[Shapes]], cfg: Config) -> list[tuple[str, dict]]:
    """One shard's ``Shapes`` -> (image key, pairing) for each of its images: what it found (``found``), the
    donor it drew from the other images' shapes (``borrow``, as annotation donors are recorded), or why the
    first pass dropped it (``donor_pass``). Sorted first, so the order Beam grouped them in does not count."""
    _, shapes = shard_shapes
    ordered = sorted(shapes, key=lambda s: s.key)
    pool = [(s.key, d) for s in ordered if s.failed is None for d in s.donors]
    owners = [key for key, _ in pool]
    b = cfg.masks.borrowed
    out = []
    for s in ordered:
        if s.failed is not None:
            out.append((s.key, {FAILED: {"stage": s.failed.stage, "reason": s.failed.reason,
                                         "detail": s.failed.detail}}))
            continue
        pairing: dict = {FOUND: {"objects": s.objects, "share": s.share}}
        pick = draw_donor(s.key, owners, b.seed) if b.source == "objects" else None
        if pick is not None:
            key, donor = pool[pick]
            pairing[DONOR] = {"image_key": key, **donor}
        out.append((s.key, pairing))
    return out


def with_pairing(keyed: tuple[str, dict]) -> ImageRecord:
    """(image key, {'rec': [its plan record], 'pairing': [its pairing]}) -> the record carrying its pairing.
    An image the first pass never reported (it cannot happen on a correct runner) is dropped by the second
    with reason 'no_shapes', never silently."""
    _, joined = keyed
    [rec] = joined["rec"]
    pairing = next(iter(joined["pairing"]), None)
    rec.meta.update(pairing if pairing is not None else
                    {FAILED: {"stage": "donors", "reason": "no_shapes", "detail": "the donor pass gave no result"}})
    return rec
