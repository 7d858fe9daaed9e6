"""The ``annotations`` masker: one candidate per object the source annotated (COCO/LVIS, Open Images).

Polygons and RLE (uncompressed and compressed) are decoded with pycocotools in the decoded image's frame
(transforms/core/masks.py), then each mask moves through the same resize and crop as the image.
"""
from __future__ import annotations

import numpy as np

from configs.schema import Config
from transforms.core.geometry import apply_resize, resize_params
from transforms.core.keys import dup_key
from transforms.core.masks import decode_segmentation
from transforms.core.records import (ImageRecord, ObjectRef, Reject, StageError, dataset_of_object, object_key, reject,
                                     reject_object)
from transforms.maskers.candidates import STAGE, make_candidate, with_candidates
from transforms.maskers.merge import merge_duplicates


def to_output_frame(mask: np.ndarray, rec: ImageRecord, cfg: Config) -> tuple[np.ndarray, float]:
    """Decoded-frame mask -> output-frame mask, and the share of the object the crop kept. Raises
    'vanished_at_resize' when downscaling leaves no pixel of a (tiny) object, before any crop."""
    _, resized, offset = resize_params(*rec.orig_hw, cfg.image)
    full = apply_resize(mask.view(np.uint8), resized, (0, 0), resized, nearest=True)
    out = full[offset[0]: offset[0] + rec.image.shape[0], offset[1]: offset[1] + rec.image.shape[1]]
    total = int(np.count_nonzero(full))
    if not total:
        raise StageError("vanished_at_resize", f"{int(np.count_nonzero(mask))} px at scale {rec.scale:.4f}")
    return out.astype(bool), int(np.count_nonzero(out)) / total


def _duplicate_reject(rec: ImageRecord, obj: ObjectRef, key: str, taken: dict[str, str]) -> Reject:
    """A second object under an existing candidate key gets a key of its own (``-dup-N``) and a reject:
    'duplicate_annotation_id' (the same id twice) or 'key_collision' (ids a key cannot tell apart)."""
    reason = "duplicate_annotation_id" if taken[key] == obj.ann_id else "key_collision"
    dup = dup_key(key, taken)
    taken[dup] = obj.ann_id
    return reject_object(rec, dup, STAGE, reason, f"annotation id {obj.ann_id!r}; {key} is annotation id {taken[key]!r}",
                         dataset_of_object(rec, obj))


def object_mask(rec: ImageRecord, obj: ObjectRef, cfg: Config) -> tuple[np.ndarray, float]:
    """One annotation -> (HxW bool mask in the output frame, share of it the crop kept); raises StageError
    with the reject reason."""
    if obj.iscrowd:
        raise StageError("iscrowd")
    if not obj.class_name.replace("_", " ").strip():  # no name, or one that would make "add a  " (instruct)
        raise StageError("unknown_category", f"category_id {obj.category_id}, name {obj.class_name!r}")
    mask = decode_segmentation(obj.segmentation, *rec.orig_hw)
    if not mask.any():
        raise StageError("empty_mask")
    mask, crop_kept = to_output_frame(mask, rec, cfg)
    if not mask.any():
        raise StageError("outside_crop", f"crop kept {crop_kept:.3f}")
    return mask, crop_kept


def size_mismatch(rec: ImageRecord) -> str:
    """'' unless the source gives a width and height (ints) that the decoded image does not have: then the
    annotations were made on another file (a resized copy, another rotation) and would land elsewhere."""
    w, h = rec.meta.get("width"), rec.meta.get("height")
    if type(w) is not int or type(h) is not int or (h, w) == tuple(rec.orig_hw):
        return ""
    return f"annotations are for {w}x{h}, the file decodes to {rec.orig_hw[1]}x{rec.orig_hw[0]}"


def propose_from_annotations(rec: ImageRecord, cfg: Config) -> list[ImageRecord | Reject]:
    """Decode every annotation of ``rec`` into a candidate (or a reject saying why not). Two objects under
    one key would be two tar samples of one name (the shard then fails to read): the first one wins. In a
    mix, two sources' masks of one object become one candidate (transforms/maskers/merge.py)."""
    if not rec.objects:
        return [reject(rec, STAGE, "no_objects")]
    if size_mismatch(rec):
        return [reject(rec, STAGE, "image_size_mismatch", size_mismatch(rec))]
    out: list = []
    taken: dict[str, str] = {}
    for obj in rec.objects:
        key = object_key(rec, obj)
        if key in taken:
            out.append(_duplicate_reject(rec, obj, key, taken))
            continue
        taken[key] = obj.ann_id
        try:
            rec.candidates.append(make_candidate(rec, obj, *object_mask(rec, obj, cfg)))
        except StageError as e:
            out.append(reject_object(rec, key, STAGE, e.reason, e.detail, dataset_of_object(rec, obj)))
    out += merge_duplicates(rec, cfg.source.merge_iou, STAGE)   # a mix: one candidate per object
    return with_candidates(rec, out)
