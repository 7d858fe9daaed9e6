"""The ``brushdata`` output format: one sample per image, with every mask it kept (BrushNet's BrushData).

No removal, no instructions: load and propose as configured, the filter keeping an image whole, then this
encoder. The caption comes from the source.

Tar members, as BrushNet's trainer reads BrushData (``load_dataset("webdataset")``, then
``example["image"]``, ``["caption"]``, ``["height"]``, ``["width"]``, ``["segmentation"]``):
``KEY.image`` (jpg/png bytes), ``KEY.caption`` (UTF-8), ``KEY.height`` and ``KEY.width`` (ASCII integers),
``KEY.segmentation`` (JSON, below) and ``KEY.json`` (source, url, licence; flat). Only ``json`` has an
extension HF datasets decodes; the rest stay bytes, which is what BrushNet's collate function expects.

``segmentation`` JSON, one list item per mask (largest first), all in the image's frame (height x width):
  ``mask``         BrushNet's run-length lists: [start, length, start, length, ...] with 1-based starts in
                   the column-major (Fortran-order) flattened mask (what train_brushnet.py's rle2mask reads)
  ``rle``          the same masks as COCO compressed RLE ({"size": [h, w], "counts": str}; pycocotools)
  ``class``, ``category_id``, ``bbox_xyxy``, ``area``, ``scores``  per mask
"""
from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
from PIL import Image
from pycocotools import mask as mask_utils

from configs.schema import Config, FilterConfig
from transforms.core.images import SIDE, encode_image, overlay, thumbnail
from transforms.core.masks import coco_rle
from transforms.core.records import Candidate, ImageRecord, Reject, Sample
from transforms.formats.base import CardText, Member, OutputFormat
from transforms.stages.filter import filter_candidates

SCHEMA = pa.schema([
    ("key", pa.string()), ("image_key", pa.string()), ("dataset", pa.string()), ("image_id", pa.string()),
    ("caption", pa.string()), ("height", pa.int64()), ("width", pa.int64()), ("num_masks", pa.int64()),
    ("classes", pa.list_(pa.string())), ("masks_kind", pa.string()), ("url", pa.string()),
    ("licence", pa.string()), ("metadata_json", pa.string()),
])


def brushnet_runs(mask: np.ndarray) -> list[int]:
    """HxW bool -> [start, length, ...]: runs of True in column-major order, starts 1-based."""
    flat = np.concatenate([[False], mask.ravel(order="F"), [False]]).view(np.int8)
    edges = np.flatnonzero(np.diff(flat))
    starts, ends = edges[0::2], edges[1::2]
    return np.stack([starts + 1, ends - starts], axis=1).ravel().tolist()


def decode_brushnet_runs(runs: list[int], h: int, w: int) -> np.ndarray:
    """Inverse of ``brushnet_runs``: [start, length, ...] -> HxW bool."""
    flat = np.zeros(h * w, bool)
    for start, length in zip(runs[0::2], runs[1::2]):
        flat[start - 1: start - 1 + length] = True
    return flat.reshape((h, w), order="F")


def union_mask(segmentation_json: bytes | str) -> np.ndarray:
    """A ``segmentation`` member -> HxW bool, the union of its masks (decoded from the COCO RLE)."""
    rles = json.loads(segmentation_json)["rle"]
    masks = mask_utils.decode([{"size": r["size"], "counts": r["counts"].encode()} for r in rles])
    return masks.any(axis=2) if masks.ndim == 3 else masks.astype(bool)


def filter_image(rec: ImageRecord, cfg: FilterConfig) -> list[ImageRecord | Reject]:
    """The filter stage keeping an image whole: its surviving candidates stay on the record (one element),
    each dropped one is a reject; an image left with none is accounted for by those rejects."""
    out = filter_candidates(rec, cfg)
    rec.candidates = [c for c in out if isinstance(c, Candidate)]
    rejects = [r for r in out if isinstance(r, Reject)]
    return ([rec] if rec.candidates else []) + rejects


def segmentation(candidates: list[Candidate]) -> dict:
    """The ``segmentation`` member's content for an image's kept candidates."""
    return {
        "mask": [brushnet_runs(c.mask) for c in candidates],
        "rle": [coco_rle(c.mask) for c in candidates],
        "class": [c.class_name for c in candidates],
        "category_id": [c.category_id for c in candidates],
        "bbox_xyxy": [c.meta.get("bbox_xyxy", []) for c in candidates],
        "area": [int(np.count_nonzero(c.mask)) for c in candidates],
        "scores": [c.scores for c in candidates],
    }


def borrowed_origin(meta: dict) -> dict:
    """BrushData-v2 (masks.kind borrowed): where the mask came from, as flat keys; {} for other maskers."""
    origin = meta.get("masks", {}).get("from")
    if origin is None:
        return {}
    flat = {"mask_source": origin["source"], "mask_from_image": origin.get("image_key", ""),
            "mask_from_ann_id": origin.get("ann_id", ""), "mask_from_class": origin.get("class_name", ""),
            "mask_scale": float(origin.get("scale", 1.0)), "mask_xy": origin.get("xy", [0, 0])}
    if "masker" in origin:          # found by a model (masks.borrowed.donors); every sample of such a run has it
        flat["mask_from_masker"] = origin["masker"]
    return flat


def sample_metadata(rec: ImageRecord, candidates: list[Candidate]) -> dict:
    """KEY.json: flat and the same keys for every sample (HF datasets infers one schema per dataset)."""
    first = candidates[0].meta
    models = first.get("models", {}).get("masks", [])
    return {**borrowed_origin(first), "key": rec.key, "dataset": str(rec.meta.get("dataset", "")),
            "image_id": rec.source_id,
            "file_name": str(rec.meta.get("file_name", "")), "url": str(rec.meta.get("url", "")),
            "licence": str(rec.meta.get("licence", "")), "licence_url": str(rec.meta.get("licence_url", "")),
            "orig_height": int(rec.orig_hw[0]), "orig_width": int(rec.orig_hw[1]),
            "masks_kind": str(first.get("masks", {}).get("kind", "annotations")), "masks_models": ",".join(models)}


def encode_brushdata(rec: ImageRecord, cfg: Config) -> Sample:
    """An image with its kept candidates -> one BrushData sample and its parquet row."""
    if not rec.candidates:
        raise ValueError(f"{rec.key}: no masks to write")
    h, w = rec.image.shape[:2]
    caption = str(rec.meta.get("caption") or "")
    seg = segmentation(rec.candidates)
    meta = sample_metadata(rec, rec.candidates)
    members = {
        "image": encode_image(rec.image, cfg.output.image_format, cfg.output.jpeg_quality),
        "caption": caption.encode(), "height": str(h).encode(), "width": str(w).encode(),
        "segmentation": json.dumps(seg, sort_keys=True, separators=(",", ":")).encode(),
        "json": json.dumps(meta, sort_keys=True, ensure_ascii=False).encode(),
    }
    row = {"key": rec.key, "image_key": rec.key, "dataset": meta["dataset"], "image_id": rec.source_id,
           "caption": caption, "height": h, "width": w, "num_masks": len(rec.candidates), "classes": seg["class"],
           "masks_kind": meta["masks_kind"], "url": meta["url"], "licence": meta["licence"],
           "metadata_json": json.dumps({**meta, "scores": seg["scores"], "bbox_xyxy": seg["bbox_xyxy"],
                                        "models": rec.candidates[0].meta.get("models", {})},
                                       sort_keys=True, ensure_ascii=False)}
    return Sample(rec.key, rec.shard, rec.key, members, row, masks=len(rec.candidates))


def brushdata_view(sample: dict, side: int = SIDE) -> dict:
    """A BrushData sample as a card: the image with its masks blanked, the image, the masks tinted."""
    target = thumbnail(sample["image"], side)
    mask = Image.fromarray(union_mask(sample["segmentation"]).view("uint8") * 255, "L").resize(target.size)
    seg = json.loads(sample["segmentation"])
    return {"key": sample["__key__"], "instruction": sample["caption"].decode(), "class": ", ".join(seg["class"]),
            "location": "", "scores": {}, "instructions": {},
            "images": {"source": Image.composite(Image.new("RGB", target.size, "white"), target, mask),
                       "target": target, "mask": overlay(target, mask)},
            "labels": {"source": "image, masks blanked", "target": "image", "mask": "masks on the image"}}


LOADING = (
    "WebDataset shards in BrushData's layout, as BrushNet's trainer reads them: `shards/NNNNNN.tar` with "
    "`KEY.image` (the photo), `KEY.caption` (UTF-8), `KEY.height` and `KEY.width` (ASCII integers), "
    "`KEY.segmentation` (JSON: BrushNet's column-major run lists under `mask`, the same masks as COCO RLE under "
    "`rle`, with `class`, `category_id`, `bbox_xyxy`, `area`, `scores` per mask) and `KEY.json` (source, url, "
    "licence); `shards/NNNNNN.parquet` holds the metadata without images.\n\n```python\nfrom datasets import "
    "load_dataset\nds = load_dataset(\"OUT\", split=\"train\")   # or: load_dataset(\"webdataset\", "
    "data_files={\"train\": \"OUT/shards/*.tar\"})\nrow = ds[0]; row[\"image\"], row[\"caption\"], "
    "row[\"segmentation\"]   # bytes, as BrushNet's collate function expects\n```")
SUMMARY = """{samples} images with object masks and captions for training inpainting models (the BrushData
recipe of BrushNet, arXiv 2403.06976): each sample holds a photo, its caption and every mask kept for it.
Made from {images} images of {datasets}."""
FOUND_BY = {"annotations": "annotated in it", "grounded_sam": "Grounded-SAM found in it",
            "sam": "SAM's automatic masks found in it"}


def summary(cfg: dict) -> str:
    """The card's summary for the run's config (config.yaml as a dict): BrushData's own masks, or for
    BrushData-v2 (``masks.kind: borrowed``) which images were kept as clean and where their masks came from."""
    masks = cfg.get("masks") or {}
    if masks.get("kind") != "borrowed":
        return SUMMARY
    b = masks.get("borrowed") or {}
    donors = b.get("donors", "annotations")      # outputs made before masks.borrowed.donors: annotations
    rule = f"the objects {FOUND_BY.get(donors, donors)} cover less than {b.get('max_object_share')} of the frame"
    if b.get("max_objects"):
        rule += f", or number at most {b['max_objects']}"
    if b.get("source") == "brush":
        mask = "a random brush mask (BrushNet's strokes, `masks.brush`) drawn from its key"
    else:
        pool = ("the whole run's annotated objects" if donors == "annotations" else
                f"the shapes {FOUND_BY.get(donors, donors).removesuffix(' in it')} in the other images of its "
                f"shard that pass `filters.*`")
        mask = (f"an object shape borrowed from another image, drawn from its key among {pool}, scaled to cover "
                f"{b.get('min_area_ratio')} to {b.get('max_area_ratio')} of the frame and placed from its key; "
                f"`KEY.json` names the shape's origin (`mask_from_image`, `mask_from_ann_id`, `mask_from_class`, "
                f"`mask_scale`, `mask_xy`" + (", `mask_from_masker`" if donors != "annotations" else "") + ")")
    return ("{samples} clean-background images, each paired with a mask it does not own, for training "
            "inpainting models to delete (the BrushData-v2 recipe of BrushEdit, arXiv 2412.10316): an image "
            f"was kept as clean when {rule} (`masks.borrowed.max_object_share`, `masks.borrowed.max_objects`); "
            f"its mask is {mask}. The mask covers background, not an object of the image, and the caption is "
            "the image's own. Made from {images} images of {datasets}.")

BRUSHDATA = OutputFormat(
    name="brushdata", encode=encode_brushdata, schema=SCHEMA,
    members=(Member("image", "binary"), Member("caption", "binary"), Member("height", "binary"),
             Member("width", "binary"), Member("segmentation", "binary"), Member("json", "json")),
    card=CardText(title="Inpainting samples (BrushData layout) made with inpaint-pairs", summary=summary,
                  loading=LOADING, tags=("inpainting", "image-segmentation", "brushdata", "inpaint-pairs"),
                  unit="samples"),
    view=brushdata_view, class_column="classes",
    runs=("load", "propose", "filter"), replaces={"filter": filter_image},   # one element per image
)
