"""The ``pipe`` output format (default): one pair per object, PIPE's recipe (arXiv 2404.18212).

Members: ``source.<ext>`` (object removed), ``target.<ext>`` (original), ``mask.png`` (0/255),
``txt`` (one instruction), ``json`` (everything known about the pair). The whole chain runs (filter,
remove, blend, describe, instruct, then this encoder). Encoding happens once, here, so only compact bytes
leave the stage that made them.
"""
from __future__ import annotations

import json

import pyarrow as pa

from configs.schema import Config
from transforms.core.images import SIDE, encode_image, encode_mask, member, overlay, thumbnail
from transforms.core.records import Candidate, Reject, Sample, reject
from transforms.formats.base import CardText, Member, OutputFormat

STAGE = "encode"
SCHEMA = pa.schema([
    ("key", pa.string()), ("image_key", pa.string()), ("class_name", pa.string()),
    ("category_id", pa.int64()), ("dataset", pa.string()), ("image_id", pa.string()), ("ann_id", pa.string()),
    ("bbox_xyxy", pa.list_(pa.int64())), ("area_ratio", pa.float64()), ("location", pa.string()),
    ("instruction", pa.string()), ("instruction_add", pa.string()), ("instruction_add_location", pa.string()),
    ("instruction_remove", pa.string()), ("instruction_vlm_llm", pa.string()),
    ("licence", pa.string()), ("url", pa.string()), ("metadata_json", pa.string()),
])


def pair_metadata(c: Candidate) -> dict:
    return {
        "key": c.key, "image_key": c.image_key, "class": c.class_name, "category_id": c.category_id,
        "instructions": c.instructions, "scores": c.scores, **c.meta,
    }


def encode_pair(c: Candidate, cfg: Config) -> Sample | Reject:
    """A finished candidate as tar members and a sidecar row; a blank chosen instruction is a reject."""
    text = c.instructions.get(cfg.instructions.txt, "")
    if not text.strip():
        return reject(c, STAGE, "empty_instruction", f"instructions.txt={cfg.instructions.txt}")
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
    return Sample(c.key, c.shard, c.image_key, members, row)


def pair_view(sample: dict, side: int = SIDE) -> dict:
    """What a gallery card shows: texts and three thumbnails (source, target, target with mask tinted)."""
    meta = json.loads(sample["json"])
    source = thumbnail(member(sample, "source"), side)
    target = thumbnail(member(sample, "target"), side)
    mask = thumbnail(member(sample, "mask"), side, "L")
    return {
        "key": sample["__key__"], "instruction": sample["txt"].decode(), "class": meta.get("class", ""),
        "location": meta.get("location", ""), "scores": meta.get("scores", {}),
        "instructions": meta.get("instructions", {}),
        "images": {"source": source, "target": target, "mask": overlay(target, mask)},
    }


LOADING = (
    "WebDataset shards: `shards/NNNNNN.tar` with `KEY.source.*` (object removed), `KEY.target.*` "
    "(original), `KEY.mask.png` (0/255), `KEY.txt` (one instruction) and `KEY.json` (every "
    "instruction, class, box, location, scores, source ids, licence); `shards/NNNNNN.parquet` holds "
    "the same metadata without images.\n\n```python\nfrom pipelines.loader import pair_dataset, "
    "shard_urls   # pip install inpaint-pairs\nfor source, target, mask, instruction in "
    "pair_dataset(shard_urls(\"OUT\")): ...\n# or: datasets.load_dataset(\"webdataset\", data_files="
    "{\"train\": \"OUT/shards/*.tar\"})\n```")
SUMMARY = """{samples} image pairs for instruction-based object addition and removal (the recipe of PIPE,
"Paint by Inpaint", arXiv 2404.18212): for each object of a source photo, the photo with the object removed
(`source`), the original (`target`), the object's mask and instructions ("add a cat" turns source into target).
Made from {images} images of {datasets}."""

PIPE = OutputFormat(
    name="pipe", encode=encode_pair, schema=SCHEMA,
    members=(Member("source.{ext}", "image"), Member("target.{ext}", "image"), Member("mask.png", "image"),
             Member("txt", "string"), Member("json", "json")),
    card=CardText(title="Object addition/removal pairs made with inpaint-pairs", summary=SUMMARY, loading=LOADING,
                  tags=("image-editing", "object-removal", "object-addition", "inpainting", "inpaint-pairs")),
    view=pair_view, class_column="class_name", location_column="location",
    kind_columns={"add": "instruction_add", "add_location": "instruction_add_location",
                  "remove": "instruction_remove", "vlm_llm": "instruction_vlm_llm"},
)
