"""Encode stage: a finished candidate -> tar members (bytes) and one parquet row.

Members: ``source.<ext>`` (object removed), ``target.<ext>`` (original), ``mask.png`` (0/255),
``txt`` (one instruction), ``json`` (everything known about the pair). Encoding happens once, here,
so only compact bytes cross the shuffle to the shard writer.
"""
from __future__ import annotations

import json

import cv2
import numpy as np

from configs.schema import Config
from transforms.record import Candidate, EncodedPair, Reject, reject_candidate

STAGE = "encode"


def encode_image(rgb: np.ndarray, fmt: str, quality: int) -> bytes:
    """HxWx3 uint8 RGB -> jpg or png bytes."""
    bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    # 4:4:4 chroma: 8x8 blocks in every channel, so pixels away from an edit decode exactly as before it
    params = ([cv2.IMWRITE_JPEG_QUALITY, quality,
               cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444] if fmt == "jpg" else [])
    ok, buf = cv2.imencode("." + fmt, bgr, params)
    if not ok:
        raise ValueError(f"could not encode a {rgb.shape} image as {fmt}")
    return buf.tobytes()


def encode_mask(mask: np.ndarray) -> bytes:
    """HxW bool -> single-channel png with values 0 and 255."""
    ok, buf = cv2.imencode(".png", mask.view(np.uint8) * np.uint8(255))
    if not ok:
        raise ValueError("could not encode mask")
    return buf.tobytes()


def pair_metadata(c: Candidate) -> dict:
    return {
        "key": c.key, "image_key": c.image_key, "class": c.class_name, "category_id": c.category_id,
        "instructions": c.instructions, "scores": c.scores, **c.meta,
    }


def encode_pair(c: Candidate, cfg: Config) -> EncodedPair | Reject:
    """A finished candidate as tar members and a sidecar row; a blank chosen instruction is a reject."""
    text = c.instructions.get(cfg.instructions.txt, "")
    if not text.strip():
        return reject_candidate(c, STAGE, "empty_instruction", f"instructions.txt={cfg.instructions.txt}")
    fmt, q = cfg.output.image_format, cfg.output.jpeg_quality
    meta = pair_metadata(c)
    meta_json = json.dumps(meta, sort_keys=True, ensure_ascii=False)
    members = {
        f"source.{fmt}": encode_image(c.source, fmt, q),
        f"target.{fmt}": encode_image(c.image, fmt, q),
        "mask.png": encode_mask(c.mask),
        "txt": text.encode(),
        "json": meta_json.encode(),
    }
    src = c.meta.get("source", {})
    row = {
        "key": c.key, "image_key": c.image_key, "class_name": c.class_name, "category_id": c.category_id,
        "dataset": src.get("dataset", ""), "image_id": src.get("image_id", ""), "ann_id": src.get("ann_id", ""),
        "bbox_xyxy": c.meta.get("bbox_xyxy", []), "area_ratio": c.scores.get("area_ratio", 0.0),
        "location": c.meta.get("location", ""), "instruction": members["txt"].decode(),
        "instruction_add": c.instructions.get("add", ""),
        "instruction_add_location": c.instructions.get("add_location", ""),
        "instruction_remove": c.instructions.get("remove", ""),
        "instruction_vlm_llm": c.instructions.get("vlm_llm", ""),
        "licence": c.meta.get("licence", ""), "url": c.meta.get("url", ""), "metadata_json": meta_json,
    }
    return EncodedPair(c.key, c.shard, c.image_key, members, row)
