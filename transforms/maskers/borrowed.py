"""BrushData-v2's masks (BrushEdit, arXiv 2412.10316): clean backgrounds paired with masks they do not own
(``masks.kind: borrowed``), so the region to fill has background behind it and a model learns to delete.

Two pure steps:
- the donor choice, before an image is read: ``draw_donor`` gives each image one object of *another* image
  as its donor, a pure function of its key over a pool sorted by key, so it never depends on which worker
  saw what. With ``masks.borrowed.donors: annotations`` the pool is the whole plan's annotated objects
  (``plan_donors``, once, while planning); with a model (``grounded_sam``, ``sam``) it is the shapes the
  model found in the image's own shard, in a first pass (donors.py). Either way the donor lands in
  ``meta['borrow']``.
- ``propose_borrowed`` (the propose stage): an image is kept only when its background is clean (its objects,
  annotated or found, cover less than ``max_object_share`` of the frame, or it has at most ``max_objects``);
  then the donor's shape is cut to its box, scaled to cover ``min_area_ratio``..``max_area_ratio`` of the
  frame and placed inside it (or, with ``source: brush``, a random brush mask is drawn), all seeded by the key.
Masks are HxW bool in the output frame; the origin of a borrowed mask goes to ``meta['masks']['from']``.
"""
from __future__ import annotations

import cv2
import numpy as np

from configs.schema import Config, ConfigError
from transforms.core.geometry import bbox_xyxy
from transforms.core.keys import key_seed, safe_key
from transforms.core.masks import decode_segmentation
from transforms.core.records import ImageRecord, ObjectRef, PlanEntry, Reject, StageError, reject
from transforms.maskers.annotations import object_mask
from transforms.maskers.brush import brush_mask
from transforms.maskers.candidates import STAGE, make_candidate

DONOR = "borrow"                     # PlanEntry.meta key holding the donor
FOUND = "found"                      # ... the objects a model found: {"objects": n, "share": of the frame}
FAILED = "donor_pass"                # ... the reject of the image in the model's pass: {stage, reason, detail}


def _size(entry: PlanEntry) -> tuple[int, int] | None:
    h, w = entry.meta.get("height"), entry.meta.get("width")
    return (h, w) if type(h) is int and type(w) is int and h > 0 and w > 0 else None


def donor_pool(shards: list[list[PlanEntry]]) -> list[tuple[str, dict, tuple[int, int]]]:
    """(image key, object, (h, w)) of every object that can lend its shape: not crowd, with a polygon or RLE,
    of an image whose size the source gives; sorted by (key, ann_id)."""
    pool = [(e.key, obj, _size(e)) for shard in shards for e in shard if e.rejected is None and _size(e)
            for obj in e.objects if obj.get("segmentation") and not obj.get("iscrowd")]
    return sorted(pool, key=lambda p: (p[0], str(p[1].get("ann_id"))))


def draw_donor(key: str, owners: list[str], seed: int) -> int | None:
    """The index of the donor an image draws from a pool whose i-th shape belongs to image ``owners[i]``:
    from an index seeded by its key, the first shape that is not its own; None when all are its own."""
    n = len(owners)
    start = key_seed(key, seed) % max(n, 1)
    # walk on from the drawn index past the image's own objects (at most as many steps as it has objects)
    return next((i % n for i in range(start, start + n) if owners[i % n] != key), None)


def plan_donors(shards: list[list[PlanEntry]], cfg: Config) -> list[list[PlanEntry]]:
    """Give every usable entry a donor object from another image (``meta['borrow']``); an image with none
    to borrow from gets no donor and is a reject of the propose stage. Brush masks need no donor, and a
    model's donors are chosen in the graph (donors.py)."""
    b = cfg.masks.borrowed
    if b.source != "objects" or b.donors != "annotations":
        return shards
    pool = donor_pool(shards)
    usable = sum(e.rejected is None for shard in shards for e in shard)
    if usable and not pool:
        raise ConfigError(f"masks.borrowed.donors=annotations: none of the {usable} planned images has an annotated "
                          f"object shape (polygons or RLE, with the image's size) to lend; set masks.borrowed.donors "
                          f"to grounded_sam or sam to find them, or masks.borrowed.source to brush")
    owners = [p[0] for p in pool]
    for entry in (e for shard in shards for e in shard if e.rejected is None):
        pick = draw_donor(entry.key, owners, b.seed)
        if pick is not None:
            key, obj, (h, w) = pool[pick]
            entry.meta[DONOR] = {"image_key": key, "ann_id": str(obj.get("ann_id")),
                                 "class_name": obj.get("class_name", ""), "segmentation": obj["segmentation"],
                                 "height": h, "width": w}
    return shards


def _busy(n: int, share: float, b, found_by: str = "") -> str:
    return "" if share < b.max_object_share else (
        f"{n} objects{found_by} cover {share:.3f} of the frame (masks.borrowed.max_object_share="
        f"{b.max_object_share}, max_objects={b.max_objects})")


def busy_background(rec: ImageRecord, cfg: Config) -> str:
    """'' when the image's objects leave a clean background, else why not (for the reject's detail): its
    annotated objects, or what the donor pass found (``meta['found']``) when a model finds them."""
    b = cfg.masks.borrowed
    found = rec.meta.get(FOUND)
    if found is not None:
        n = found["objects"]
        clean = not n or (b.max_objects and n <= b.max_objects)
        return "" if clean else _busy(n, found["share"], b, f" found by {b.donors}")
    if not rec.objects or (b.max_objects and len(rec.objects) <= b.max_objects):
        return ""
    unshaped = sum(o.segmentation is None for o in rec.objects)
    if unshaped:   # a caption's classes: named, not drawn; their count is all there is to judge by
        return (f"{len(rec.objects)} objects, {unshaped} without a shape to measure (masks.borrowed.max_objects="
                f"{b.max_objects})")
    union = np.zeros(rec.image.shape[:2], bool)
    for obj in rec.objects:
        try:
            union |= object_mask(rec, obj, cfg)[0]
        except StageError:
            continue              # an undecodable or vanished object covers nothing here
    return _busy(len(rec.objects), float(union.mean()), b)


def place_shape(shape: np.ndarray, hw: tuple[int, int], area: float, rng: np.random.Generator
                ) -> tuple[np.ndarray, float, list[int]]:
    """An hxw bool shape cut to its box, scaled to cover ``area`` of an HxW frame (at most the frame) and
    placed at a random spot inside it -> (HxW bool, the scale, [x, y] of its top-left corner)."""
    x1, y1, x2, y2 = bbox_xyxy(shape)
    cut = shape[y1:y2, x1:x2].view(np.uint8)
    h, w = hw
    scale = min(float(np.sqrt(area * h * w / max(int(cut.sum()), 1))), h / cut.shape[0], w / cut.shape[1])
    nh, nw = max(1, min(h, round(cut.shape[0] * scale))), max(1, min(w, round(cut.shape[1] * scale)))
    small = cv2.resize(cut, (nw, nh), interpolation=cv2.INTER_NEAREST).astype(bool)
    y, x = int(rng.integers(0, h - nh + 1)), int(rng.integers(0, w - nw + 1))
    out = np.zeros(hw, bool)
    out[y:y + nh, x:x + nw] = small
    return out, round(scale, 6), [x, y]


def borrowed_mask(rec: ImageRecord, cfg: Config, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """The mask an image borrows (HxW bool, output frame) and its origin, for ``meta['masks']['from']``."""
    b = cfg.masks.borrowed
    hw = rec.image.shape[:2]
    if b.source == "brush":
        return brush_mask(*hw, cfg.masks.brush, rng), {"source": "brush"}
    donor = rec.meta.get(DONOR)
    if not donor:
        raise StageError("no_donor", "no other image of the run has an annotated object to lend"
                         if b.donors == "annotations" else
                         f"no other image of its shard has a shape {b.donors} found to lend (shards of "
                         f"source.shard_size={cfg.source.shard_size} images are the donor pools)")
    shape = decode_segmentation(donor["segmentation"], donor["height"], donor["width"])
    if not shape.any():
        raise StageError("empty_donor", f"{donor['image_key']} object {donor['ann_id']}")
    mask, scale, xy = place_shape(shape, hw, float(rng.uniform(b.min_area_ratio, b.max_area_ratio)), rng)
    origin = {"source": "objects", "image_key": donor["image_key"], "ann_id": donor["ann_id"],
              "class_name": donor["class_name"], "scale": scale, "xy": xy}
    if "masker" in donor:         # a model's shape (donors.py); annotation donors keep their original record
        origin["masker"] = donor["masker"]
    return mask, origin


def propose_borrowed(rec: ImageRecord, cfg: Config) -> list[ImageRecord | Reject]:
    """A clean-background image with one borrowed mask as its candidate (class ``masks.unlabelled_class``),
    or the image's reject: 'busy_background', 'no_donor', 'empty_donor', the donor's decoding error, or the
    reason the model's first pass dropped it."""
    failed = rec.meta.get(FAILED)
    if failed:
        return [reject(rec, STAGE, failed["reason"], f"in the donor pass ({failed['stage']}): {failed['detail']}")]
    why = busy_background(rec, cfg)
    if why:
        return [reject(rec, STAGE, "busy_background", why)]
    seed = key_seed(safe_key(rec.key, "borrowed"), cfg.masks.borrowed.seed)
    try:
        mask, origin = borrowed_mask(rec, cfg, np.random.default_rng(seed))
    except StageError as e:
        return [reject(rec, STAGE, e.reason, e.detail)]
    if not mask.any():
        return [reject(rec, STAGE, "empty_mask", str(origin))]
    obj = ObjectRef(ann_id="borrowed", category_id=-1, class_name=cfg.masks.unlabelled_class)
    c = make_candidate(rec, obj, mask, 1.0)
    c.meta["masks"] = {"kind": "borrowed", "seed": seed, "from": origin}
    if origin.get("masker"):
        c.meta["models"] = {"masks": list(rec.meta[DONOR]["models"])}
    rec.candidates.append(c)
    return [rec]
