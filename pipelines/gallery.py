"""Pictures of a run: sample pairs spread over the shards, small thumbnails, mask overlays, reject
examples (drawn from the plan: the input image, with the dropped object's mask when the plan has it),
and a Pillow contact sheet. Used by report.html, rejects.html and ``inpaint-pairs preview``.

Images are Pillow images; thumbnails fit in a ``side`` x ``side`` box; masks are single-channel 0/255.
"""
from __future__ import annotations

import base64
import contextlib
import io
import itertools
import json
import math
from typing import Iterable

from PIL import Image, ImageDraw, ImageFont, ImageOps

from pipelines import outputs
from transforms import fileio
from transforms.propose import MaskError, decode_segmentation
from transforms.record import safe_key

SIDE = 144
TINT = (255, 0, 80)


def thumbnail(data: bytes, side: int = SIDE, mode: str = "RGB") -> Image.Image:
    im = Image.open(io.BytesIO(data))
    im.draft(mode, (side, side))  # JPEG: decode at a reduced scale, much faster for big images
    im = im.convert(mode)
    im.thumbnail((side, side))
    return im


def overlay(image: Image.Image, mask: Image.Image, alpha: float = 0.5) -> Image.Image:
    """``image`` (RGB) tinted where ``mask`` (L, any size: resized to the image) is set."""
    mask = mask.convert("L").resize(image.size, Image.Resampling.NEAREST)
    tinted = Image.blend(image, Image.new("RGB", image.size, TINT), alpha)
    return Image.composite(tinted, image, mask)


def data_uri(im: Image.Image, quality: int = 70) -> str:
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=quality)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode()


def spread(counts: list[tuple[int, int]], n: int) -> list[tuple[int, int]]:
    """(shard, pairs in it) -> (shard, pairs to take from its start): ``n`` pairs from shards spread evenly
    over the run (one shard every len/n), topped up from other shards when some hold fewer pairs."""
    shards = [(s, c) for s, c in counts if c > 0]
    if not shards or n <= 0:
        return []
    step = len(shards) / min(n, len(shards))
    picked = [shards[int(i * step)] for i in range(min(n, len(shards)))]
    order = picked + [sc for sc in shards if sc not in picked]
    take: dict[int, int] = {}
    left = n
    for limit in (math.ceil(n / len(picked)), None):
        for s, c in order:
            room = c - take.get(s, 0) if limit is None else min(c, limit) - take.get(s, 0)
            k = max(0, min(room, left))
            if k:
                take[s] = take.get(s, 0) + k
                left -= k
    return sorted(take.items())


def sample_pairs(out: str, n: int, counts: list[tuple[int, int]] | None = None) -> list[dict]:
    """Up to ``n`` pairs (raw members) read from the starts of shards spread over the run."""
    if counts is None:
        counts = [(k, outputs.read_stats(out, k)["pairs"]) for k in outputs.finished_shards(out)]
    samples: list[dict] = []
    for shard, k in spread(counts, n):
        with contextlib.closing(outputs.iter_samples(out, shard)) as it:
            samples += itertools.islice(it, k)
    return samples


def brushdata_view(sample: dict, side: int = SIDE) -> dict:
    """A BrushData sample as a card: the image with its masks blanked, the image, the masks tinted."""
    from transforms.encode_brushdata import union_mask
    target = thumbnail(sample["image"], side)
    mask = Image.fromarray(union_mask(sample["segmentation"]).view("uint8") * 255, "L").resize(target.size)
    seg = json.loads(sample["segmentation"])
    return {"key": sample["__key__"], "instruction": sample["caption"].decode(), "class": ", ".join(seg["class"]),
            "location": "", "scores": {}, "instructions": {},
            "images": {"source": Image.composite(Image.new("RGB", target.size, "white"), target, mask),
                       "target": target, "mask": overlay(target, mask)}}


def pair_view(sample: dict, side: int = SIDE) -> dict:
    """What a gallery card shows: texts and three thumbnails (source, target, target with mask tinted)."""
    if "segmentation" in sample:
        return brushdata_view(sample, side)
    meta = json.loads(sample["json"])
    source = thumbnail(outputs.member(sample, "source"), side)
    target = thumbnail(outputs.member(sample, "target"), side)
    mask = thumbnail(outputs.member(sample, "mask"), side, "L")
    return {
        "key": sample["__key__"], "instruction": sample["txt"].decode(), "class": meta.get("class", ""),
        "location": meta.get("location", ""), "scores": meta.get("scores", {}),
        "instructions": meta.get("instructions", {}),
        "images": {"source": source, "target": target, "mask": overlay(target, mask)},
    }


def _object_mask(entry: dict, key: str, size: tuple[int, int]) -> Image.Image | None:
    for obj in entry.get("objects", []):
        if safe_key(entry["key"], obj["ann_id"]) == key and obj.get("segmentation") is not None:
            try:
                m = decode_segmentation(obj["segmentation"], size[1], size[0])
            except MaskError:
                return None
            return Image.fromarray(m.astype("uint8") * 255, "L")
    return None


def reject_picture(out: str, row: dict, plans: dict, side: int = SIDE) -> Image.Image | None:
    """The input image of a reject row (with the candidate's mask tinted), or None when it does not load."""
    if row["shard"] not in plans:
        plans[row["shard"]] = {e["key"]: e for e in outputs.read_plan(out, row["shard"])["images"]}
    entry = plans[row["shard"]].get(row["image_key"])
    if entry is None:
        return None
    try:
        im = ImageOps.exif_transpose(Image.open(io.BytesIO(fileio.read_bytes(entry["uri"])))).convert("RGB")
    except Exception:  # noqa: BLE001 - an image that does not load simply has no picture
        return None
    mask = _object_mask(entry, row["key"], im.size) if row["level"] == "candidate" else None
    im.thumbnail((side, side))
    return overlay(im, mask) if mask is not None else im


def reject_examples(out: str, wanted: Iterable[tuple[str, str, str]], k: int) -> dict[tuple, list[dict]]:
    """Up to ``k`` reject rows per (level, stage, reason), read shard by shard until every group is full."""
    groups: dict[tuple, list[dict]] = {g: [] for g in wanted}
    for shard in outputs.finished_shards(out):
        if all(len(v) >= k for v in groups.values()):
            break
        for row in outputs.read_rejects_table(out, shard).to_pylist():
            group = groups.setdefault((row["level"], row["stage"], row["reason"]), [])
            if len(group) < k:
                group.append(row)
    return groups


def contact_sheet(views: list[dict], cols: int = 2, side: int = SIDE) -> Image.Image:
    """A PNG-able sheet: per pair source | target | mask overlay, instruction and class underneath."""
    font = ImageFont.load_default(size=11)
    cell_w, cell_h = 3 * side + 12, side + 34
    rows = max(1, math.ceil(len(views) / cols))
    sheet = Image.new("RGB", (cols * cell_w, rows * cell_h), "white")
    draw = ImageDraw.Draw(sheet)
    for i, v in enumerate(views):
        x, y = (i % cols) * cell_w + 4, (i // cols) * cell_h + 4
        for j, name in enumerate(("source", "target", "mask")):
            sheet.paste(v["images"][name], (x + j * side, y))
        draw.text((x, y + side + 2), v["instruction"][:60], fill="black", font=font)
        draw.text((x, y + side + 16), f"{v['class']} · {v['key']}"[:60], fill="#555", font=font)
    return sheet
