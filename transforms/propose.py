"""Propose stage: one candidate per object of a loaded image.

The ``annotations`` masker decodes COCO/LVIS polygons and RLE (uncompressed and compressed) with
pycocotools in the decoded image's frame, then moves each mask through the same resize and crop as the
image. Model maskers (SAM, Grounded-SAM) fill ``rec.objects`` via RunInference and reuse this decoding.
"""
from __future__ import annotations

import math

import numpy as np
from pycocotools import mask as mask_utils

from configs.schema import Config
from transforms.load import apply_resize, out_size, resize_params
from transforms.propose_brush import propose_brush
from transforms.record import Candidate, ImageRecord, ObjectRef, Reject, reject_image, safe_key
from transforms.sources import dup_key

STAGE = "propose"


class MaskError(Exception):
    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail = reason, detail


def decode_segmentation(seg, h: int, w: int) -> np.ndarray:
    """COCO segmentation (polygons, RLE, compressed RLE, or an HxW array) -> HxW bool in an h x w frame."""
    if isinstance(seg, np.ndarray):
        if seg.shape != (h, w):
            raise MaskError("mask_size_mismatch", f"mask {seg.shape} vs image {(h, w)}")
        return seg.astype(bool)
    if isinstance(seg, list):
        return _decode_polygons(seg, h, w)
    if isinstance(seg, dict) and "counts" in seg and "size" in seg:
        return _decode_rle(seg, h, w)
    raise MaskError("bad_segmentation", f"unsupported segmentation of type {type(seg).__name__}")


def _polygon_coords(seg: list) -> list[list[float]]:
    """The polygons of at least 3 points, as floats; raises on non-numeric or non-finite coordinates."""
    polys = [p for p in seg if isinstance(p, list) and len(p) >= 6 and len(p) % 2 == 0]
    if not polys:
        raise MaskError("bad_segmentation", "no polygon with at least 3 points")
    try:
        polys = [[float(v) for v in p] for p in polys]
    except (TypeError, ValueError) as e:
        raise MaskError("bad_segmentation", str(e)[:200]) from None
    if not all(math.isfinite(v) for p in polys for v in p):
        raise MaskError("bad_segmentation", "a polygon coordinate is NaN or infinite")
    return polys


def _decode_polygons(seg: list, h: int, w: int) -> np.ndarray:
    """Polygons in pixel coordinates -> HxW bool. The rasteriser's time grows with the outline's length
    (coordinates of 1e8 take ~25 s, NaN exhausts memory), so coordinates are checked before it runs."""
    polys = _polygon_coords(seg)
    xs, ys = [v for p in polys for v in p[0::2]], [v for p in polys for v in p[1::2]]
    where = f"x {min(xs):g}..{max(xs):g}, y {min(ys):g}..{max(ys):g} in a {w}x{h} image"
    if max(xs) <= 0 or min(xs) >= w or max(ys) <= 0 or min(ys) >= h:
        raise MaskError("outside_image", where)
    if min(xs) < -w or max(xs) > 2 * w or min(ys) < -h or max(ys) > 2 * h:
        raise MaskError("polygon_out_of_range", where)
    return mask_utils.decode(mask_utils.merge(mask_utils.frPyObjects(polys, h, w))).astype(bool)


def _decode_counts(s: bytes) -> list[int]:
    """pycocotools' compressed RLE counts (its rleFrString): 5 bits a character from '0', a continuation
    bit, sign-extended, runs from the third on coded as the difference to the run two before."""
    runs: list[int] = []
    p = 0
    while p < len(s):
        x, k, more = 0, 0, True
        while more:
            if p >= len(s) or not 48 <= s[p] < 112 or k > 7:
                raise MaskError("bad_rle", f"compressed counts malformed at character {p}")
            c = s[p] - 48
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p, k = p + 1, k + 1
            if not more and c & 0x10:
                x |= -1 << (5 * k)
        runs.append(x + runs[-2] if len(runs) > 2 else x)
    return runs


def rle_runs(counts) -> list[int]:
    """Run lengths of COCO RLE counts (a list of ints, or the compressed string); raises if malformed."""
    if isinstance(counts, str):
        counts = counts.encode()
    runs = _decode_counts(counts) if isinstance(counts, bytes) else counts
    if not isinstance(runs, list) or not all(type(r) is int and r >= 0 for r in runs):
        raise MaskError("bad_rle", "counts must be non-negative integers or a compressed string")
    return runs


def _decode_rle(seg: dict, h: int, w: int) -> np.ndarray:
    """RLE -> HxW bool, once its runs are known to cover the frame exactly: pycocotools trusts them and
    fills a short RLE's tail from uninitialised memory (a different mask on every run)."""
    size = seg["size"]
    if not isinstance(size, (list, tuple)) or list(size) != [h, w]:
        raise MaskError("mask_size_mismatch", f"RLE size {size!r} vs image {[h, w]}")
    runs = rle_runs(seg["counts"])
    if sum(runs) != h * w:
        raise MaskError("bad_rle", f"runs cover {sum(runs)} pixels, the {w}x{h} image has {h * w}")
    counts = seg["counts"]
    if isinstance(counts, list):
        return mask_utils.decode(mask_utils.frPyObjects({"size": [h, w], "counts": counts}, h, w)).astype(bool)
    counts = counts.encode() if isinstance(counts, str) else counts
    return mask_utils.decode({"size": [h, w], "counts": counts}).astype(bool)


def bbox_xyxy(mask: np.ndarray) -> list[int]:
    """Tight XYXY box (x1, y1 inclusive; x2, y2 exclusive) of an HxW bool mask."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    return [int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1]


def to_output_frame(mask: np.ndarray, rec: ImageRecord, cfg: Config) -> tuple[np.ndarray, float]:
    """Decoded-frame mask -> output-frame mask, and the share of the object the crop kept. Raises
    'vanished_at_resize' when downscaling leaves no pixel of a (tiny) object, before any crop."""
    _, resized, offset = resize_params(*rec.orig_hw, cfg.image)
    full = apply_resize(mask.view(np.uint8), resized, (0, 0), resized, nearest=True)
    out = full[offset[0]: offset[0] + rec.image.shape[0], offset[1]: offset[1] + rec.image.shape[1]]
    total = int(np.count_nonzero(full))
    if not total:
        raise MaskError("vanished_at_resize", f"{int(np.count_nonzero(mask))} px at scale {rec.scale:.4f}")
    return out.astype(bool), int(np.count_nonzero(out)) / total


def make_candidate(rec: ImageRecord, obj: ObjectRef, mask: np.ndarray, crop_kept: float) -> Candidate:
    meta = {
        "source": {"dataset": rec.meta.get("dataset", ""), "image_id": rec.source_id, "ann_id": obj.ann_id,
                   "file_name": rec.meta.get("file_name", "")},
        "licence": rec.meta.get("licence", ""), "licence_url": rec.meta.get("licence_url", ""),
        "url": rec.meta.get("url", ""), "bbox_xyxy": bbox_xyxy(mask),
        "size_hw": list(mask.shape), "orig_size_hw": list(rec.orig_hw),
    }
    if rec.meta.get("caption"):
        meta["caption"] = rec.meta["caption"]
    scores = {"crop_kept": round(crop_kept, 6), **obj.scores}
    return Candidate(key=safe_key(rec.key, obj.ann_id), shard=rec.shard, image_key=rec.key,
                     class_name=obj.class_name, category_id=obj.category_id, image=rec.image, mask=mask,
                     scores=scores, meta=meta)


def _object_reject(rec: ImageRecord, obj: ObjectRef, reason: str, detail: str = "") -> Reject:
    return Reject(safe_key(rec.key, obj.ann_id), rec.shard, rec.key, "candidate", STAGE, reason, detail)


def _duplicate_reject(rec: ImageRecord, obj: ObjectRef, key: str, taken: dict[str, str]) -> Reject:
    """A second object under an existing candidate key gets a key of its own (``-dup-N``) and a reject:
    'duplicate_annotation_id' (the same id twice) or 'key_collision' (ids a key cannot tell apart)."""
    reason = "duplicate_annotation_id" if taken[key] == obj.ann_id else "key_collision"
    dup = dup_key(key, taken)
    taken[dup] = obj.ann_id
    return Reject(dup, rec.shard, rec.key, "candidate", STAGE, reason,
                  f"annotation id {obj.ann_id!r}; {key} is annotation id {taken[key]!r}")


def object_mask(rec: ImageRecord, obj: ObjectRef, cfg: Config) -> tuple[np.ndarray, float]:
    """One annotation -> (HxW bool mask in the output frame, share of it the crop kept); raises MaskError
    with the reject reason."""
    if obj.iscrowd:
        raise MaskError("iscrowd")
    if not obj.class_name.replace("_", " ").strip():  # no name, or one that would make "add a  " (instruct)
        raise MaskError("unknown_category", f"category_id {obj.category_id}, name {obj.class_name!r}")
    mask = decode_segmentation(obj.segmentation, *rec.orig_hw)
    if not mask.any():
        raise MaskError("empty_mask")
    mask, crop_kept = to_output_frame(mask, rec, cfg)
    if not mask.any():
        raise MaskError("outside_crop", f"crop kept {crop_kept:.3f}")
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
    one key would be two tar samples of one name (the shard then fails to read): the first one wins."""
    if not rec.objects:
        return [reject_image(rec, STAGE, "no_objects")]
    if size_mismatch(rec):
        return [reject_image(rec, STAGE, "image_size_mismatch", size_mismatch(rec))]
    out: list = []
    taken: dict[str, str] = {}
    for obj in rec.objects:
        key = safe_key(rec.key, obj.ann_id)
        if key in taken:
            out.append(_duplicate_reject(rec, obj, key, taken))
            continue
        taken[key] = obj.ann_id
        try:
            rec.candidates.append(make_candidate(rec, obj, *object_mask(rec, obj, cfg)))
        except MaskError as e:
            out.append(_object_reject(rec, obj, e.reason, e.detail))
    if rec.candidates:
        out.insert(0, rec)
    return out


MASKERS = {"annotations": propose_from_annotations, "brush": propose_brush}
