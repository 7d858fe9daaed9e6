"""BrushData output (``output.format: brushdata``): one sample per image, with every mask it kept.

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
from pycocotools import mask as mask_utils

from configs.schema import Config, FilterConfig
from transforms.encode import encode_image
from transforms.filters import filter_candidates
from transforms.record import Candidate, EncodedPair, ImageRecord, Reject

BRUSHDATA_SCHEMA = pa.schema([
    ("key", pa.string()), ("image_key", pa.string()), ("dataset", pa.string()), ("image_id", pa.string()),
    ("caption", pa.string()), ("height", pa.int64()), ("width", pa.int64()), ("num_masks", pa.int64()),
    ("classes", pa.list_(pa.string())), ("masks_kind", pa.string()), ("url", pa.string()),
    ("licence", pa.string()), ("metadata_json", pa.string()),
    # the columns the dataset card counts in every run's sidecars (pipelines/card.py): the largest mask's
    # class; no location or instruction in this format
    ("class_name", pa.string()), ("location", pa.string()), ("instruction_add", pa.string()),
    ("instruction_add_location", pa.string()), ("instruction_remove", pa.string()),
    ("instruction_vlm_llm", pa.string()),
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


def coco_rle(mask: np.ndarray) -> dict:
    """HxW bool -> COCO compressed RLE with a str ``counts`` (JSON-able; pycocotools decodes it)."""
    rle = mask_utils.encode(np.asfortranarray(mask.view(np.uint8)))
    return {"size": [int(v) for v in rle["size"]], "counts": rle["counts"].decode("ascii")}


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


def sample_metadata(rec: ImageRecord, candidates: list[Candidate]) -> dict:
    """KEY.json: flat and the same keys for every sample (HF datasets infers one schema per dataset)."""
    first = candidates[0].meta
    models = first.get("models", {}).get("masks", [])
    return {"key": rec.key, "dataset": str(rec.meta.get("dataset", "")), "image_id": rec.source_id,
            "file_name": str(rec.meta.get("file_name", "")), "url": str(rec.meta.get("url", "")),
            "licence": str(rec.meta.get("licence", "")), "licence_url": str(rec.meta.get("licence_url", "")),
            "orig_height": int(rec.orig_hw[0]), "orig_width": int(rec.orig_hw[1]),
            "masks_kind": str(first.get("masks", {}).get("kind", "annotations")), "masks_models": ",".join(models)}


def encode_brushdata(rec: ImageRecord, cfg: Config) -> EncodedPair:
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
                                       sort_keys=True, ensure_ascii=False),
           "class_name": seg["class"][0], "location": "", "instruction_add": "", "instruction_add_location": "",
           "instruction_remove": "", "instruction_vlm_llm": ""}
    return EncodedPair(rec.key, rec.shard, rec.key, members, row)
