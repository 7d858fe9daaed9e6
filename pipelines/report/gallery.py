"""Pictures of a run: samples spread over the shards (each format draws its own view), reject
examples (drawn from the plan: the input image, with the dropped object's mask when the plan has it),
and a Pillow contact sheet. Used by report.html, rejects.html and ``inpaint-pairs preview``.

Images are Pillow images; thumbnails fit in a ``side`` x ``side`` box; masks are single-channel 0/255.
"""
from __future__ import annotations

import contextlib
import io
import itertools
import math
from typing import Iterable

from PIL import Image, ImageDraw, ImageFont, ImageOps

from pipelines import outputs
from pipelines.plan import read_entries
from configs.schema import FetchConfig
from transforms.core.fetch import file_url_path, read_path
from transforms.core.images import SIDE, overlay
from transforms.core.keys import safe_key
from transforms.core.masks import decode_segmentation
from transforms.core.records import PlanEntry, StageError
from transforms.stages.load import PLAN_STAGE


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


def _object_mask(entry: PlanEntry, key: str, size: tuple[int, int]) -> Image.Image | None:
    for obj in entry.objects:
        if safe_key(entry.key, obj["ann_id"]) == key and obj.get("segmentation") is not None:
            try:
                m = decode_segmentation(obj["segmentation"], size[1], size[0])
            except StageError:
                return None
            return Image.fromarray(m.astype("uint8") * 255, "L")
    return None


def reject_picture(out: str, row: dict, plans: dict, side: int = SIDE) -> Image.Image | None:
    """The input image of a reject row, or of any candidate row (report.html's threshold strips), with the
    candidate's mask tinted when the plan has it; None when it does not load."""
    if row["shard"] not in plans:
        plans[row["shard"]] = {e.key: e for e in read_entries(out, row["shard"])}
    entry = plans[row["shard"]].get(row["image_key"])
    if entry is None or row["stage"] == PLAN_STAGE:   # refused by the source (e.g. a local path): never read
        return None
    try:
        data = read_path(file_url_path(entry.uri), FetchConfig().max_bytes)   # regular files only, bounded
        im = ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB")
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
