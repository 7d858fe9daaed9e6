"""The ``paint_by_example`` output format: one triplet per object, Paint by Example's recipe (arXiv 2211.13227).

No removal and no instructions: load and propose as configured (annotations, Open Images, SAM,
Grounded-SAM), the filter stage (one candidate per object), then this encoder. The target is the photo itself;
the model learns to fill the irregular box mask from the augmented reference of the object it hides.

Tar members for key ``KEY`` (one object):
  ``KEY.image``          the photo (jpg/png bytes, output.image_format), HxW
  ``KEY.mask.png``       the irregular box mask, HxW, 0/255 (exemplar.irregular_box_mask, seeded from KEY)
  ``KEY.reference.jpg``  the augmented object crop, reference_size x reference_size (seeded from KEY)
  ``KEY.bbox``           the object's XYXY box, ASCII "x1 y1 x2 y2" (x2, y2 exclusive; PbE's bbox files)
  ``KEY.json``           class, box, reference crop box, mask and augmentation parameters, source ids, licence
An object whose box has a side under ``output.pbe.min_object_side`` px is a reject 'reference_too_small'.
"""
from __future__ import annotations

import json

import numpy as np
import pyarrow as pa

from configs.schema import Config
from transforms.core.images import SIDE, encode_image, encode_mask, member, overlay, thumbnail
from transforms.core.keys import key_seed
from transforms.core.records import Candidate, Reject, Sample, reject
from transforms.formats.base import CardText, Member, OutputFormat
from transforms.formats.exemplar import augment_reference, irregular_box_mask, reference_box, reference_params

STAGE = "encode"
REFERENCE_QUALITY = 95
SCHEMA = pa.schema([
    ("key", pa.string()), ("image_key", pa.string()), ("class_name", pa.string()),
    ("category_id", pa.int64()), ("dataset", pa.string()), ("image_id", pa.string()), ("ann_id", pa.string()),
    ("bbox_xyxy", pa.list_(pa.int64())), ("reference_box_xyxy", pa.list_(pa.int64())),
    ("mask_ratio", pa.float64()), ("licence", pa.string()), ("url", pa.string()), ("metadata_json", pa.string()),
])


def triplet(c: Candidate, cfg: Config) -> tuple[np.ndarray, np.ndarray, dict] | Reject:
    """A candidate -> (HxW bool irregular box mask, SxSx3 uint8 RGB reference, the drawn parameters), or the
    reject of an object too small to give a reference. Everything is drawn from the key's seed."""
    pbe = cfg.output.pbe
    box = c.meta.get("bbox_xyxy") or []
    if len(box) != 4 or min(box[2] - box[0], box[3] - box[1]) < pbe.min_object_side:
        return reject(c, STAGE, "reference_too_small",
                      f"box {box} has a side under output.pbe.min_object_side={pbe.min_object_side} px")
    rng = np.random.default_rng(key_seed(c.key, pbe.seed))
    hw = c.image.shape[:2]
    mask, mask_params = irregular_box_mask(hw, box, pbe, rng)
    crop_box = reference_box(hw, box, pbe.pad, rng)
    params = reference_params(pbe, rng)
    crop = c.image[crop_box[1]:crop_box[3], crop_box[0]:crop_box[2]]
    reference = augment_reference(crop, params, pbe.reference_size)
    return mask, reference, {"mask": mask_params, "reference_box_xyxy": crop_box, "augmentation": params,
                             "reference_size": pbe.reference_size}


def encode_triplet(c: Candidate, cfg: Config) -> Sample | Reject:
    """A filtered candidate as PbE's triplet: tar members and a sidecar row."""
    made = triplet(c, cfg)
    if isinstance(made, Reject):
        return made
    mask, reference, drawn = made
    src = c.meta.get("source", {})
    box = [int(v) for v in c.meta["bbox_xyxy"]]
    meta = {"key": c.key, "image_key": c.image_key, "class": c.class_name, "category_id": c.category_id,
            "scores": c.scores, **c.meta, **drawn}
    meta_json = json.dumps(meta, sort_keys=True, ensure_ascii=False)
    members = {
        "image": encode_image(c.image, cfg.output.image_format, cfg.output.jpeg_quality),
        "mask.png": encode_mask(mask),
        "reference.jpg": encode_image(reference, "jpg", REFERENCE_QUALITY),
        "bbox": " ".join(str(v) for v in box).encode(),
        "json": meta_json.encode(),
    }
    row = {"key": c.key, "image_key": c.image_key, "class_name": c.class_name, "category_id": c.category_id,
           "dataset": src.get("dataset", ""), "image_id": src.get("image_id", ""), "ann_id": src.get("ann_id", ""),
           "bbox_xyxy": box, "reference_box_xyxy": drawn["reference_box_xyxy"],
           "mask_ratio": round(float(mask.mean()), 6), "licence": c.meta.get("licence", ""),
           "url": c.meta.get("url", ""), "metadata_json": meta_json}
    return Sample(c.key, c.shard, c.image_key, members, row)


def pbe_view(sample: dict, side: int = SIDE) -> dict:
    """A triplet as a card: the reference (as 'source'), the photo, the photo with the mask tinted."""
    meta = json.loads(sample["json"])
    target = thumbnail(sample["image"], side)
    mask = thumbnail(member(sample, "mask"), side, "L")
    return {"key": sample["__key__"], "instruction": f"reference: {meta.get('class', '')}",
            "class": meta.get("class", ""), "location": "", "scores": meta.get("scores", {}), "instructions": {},
            "images": {"source": thumbnail(member(sample, "reference"), side), "target": target,
                       "mask": overlay(target, mask)},
            "labels": {"source": "reference: augmented object crop", "target": "image (the target)",
                       "mask": "irregular box mask on the image"}}


LOADING = (
    "WebDataset shards in Paint by Example's triplet layout: `shards/NNNNNN.tar` with `KEY.image` (the photo, "
    "the target), `KEY.mask.png` (the irregular box mask, 0/255), `KEY.reference.jpg` (the augmented object "
    "crop, 224x224 by default), `KEY.bbox` (\"x1 y1 x2 y2\") and `KEY.json` (class, boxes, mask and "
    "augmentation parameters, source ids, licence); `shards/NNNNNN.parquet` holds the metadata without "
    "images.\n\n```python\nfrom datasets import load_dataset\nds = load_dataset(\"OUT\", split=\"train\")\n"
    "row = ds[0]; row[\"image\"], row[\"mask.png\"], row[\"reference.jpg\"], row[\"json\"][\"class\"]\n```")
SUMMARY = """{samples} exemplar-based inpainting triplets (the recipe of Paint by Example, arXiv 2211.13227): for
each object of a photo, the photo, an irregular mask around the object's box, and an augmented crop of the object
as the reference image. Made from {images} images of {datasets}."""

PAINT_BY_EXAMPLE = OutputFormat(
    name="paint_by_example", encode=encode_triplet, schema=SCHEMA,
    members=(Member("image", "binary"), Member("mask.png", "image"), Member("reference.jpg", "image"),
             Member("bbox", "binary"), Member("json", "json")),
    card=CardText(title="Exemplar inpainting triplets (Paint by Example) made with inpaint-pairs", summary=SUMMARY,
                  loading=LOADING, tags=("inpainting", "exemplar-based-inpainting", "paint-by-example",
                                         "inpaint-pairs"), unit="triplets"),
    view=pbe_view, class_column="class_name",
    runs=("load", "propose", "filter"),   # one candidate per object, as the filter leaves it
)
