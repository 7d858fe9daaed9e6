"""Shared tools of the fault suite: small synthetic inputs, one build runner, outcome reading through the
real readers, and the accounting invariant every end-to-end test checks.

Images are HxWx3 uint8 RGB arrays; a "scene" is a green field with one red disc (the object) so a test can
tell from the written target whether the object ended up under its mask.
"""
from __future__ import annotations

import collections
import io
import json
import os

import numpy as np
from PIL import Image

from helpers import DEMO_CONFIG, circle_polygon
from configs.schema import load_config
from pipelines import outputs
from pipelines.plan import planned_shards, read_entries
from pipelines.run import run_build

RED, GREEN = (240, 60, 60), (20, 90, 40)
SIZE = 128          # image.size of every fault build: small and fast
H, W = 120, 160     # default input size (short side 120 -> resized to 128)
DISC = (60, 50, 24)  # default object: disc centre x, centre y, radius (off-centre on purpose)


def scene(h: int = H, w: int = W, disc: tuple = DISC) -> np.ndarray:
    """HxWx3 uint8 RGB: a green field with one red disc at ``disc`` = (cx, cy, r)."""
    yy, xx = np.mgrid[:h, :w]
    rgb = np.empty((h, w, 3), np.uint8)
    rgb[:] = GREEN
    cx, cy, r = disc
    rgb[(xx - cx) ** 2 + (yy - cy) ** 2 <= r * r] = RED
    return rgb


def encode(im, fmt: str = "JPEG", **kw) -> bytes:
    """A Pillow image (or an HxWx3 RGB array) as file bytes in ``fmt``."""
    if isinstance(im, np.ndarray):
        im = Image.fromarray(im)
    if fmt == "JPEG":
        kw.setdefault("quality", 95)
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def disc_ann(ann_id, image_id, disc: tuple = DISC, category_id: int = 1, **extra) -> dict:
    cx, cy, r = disc
    return {"id": ann_id, "image_id": image_id, "category_id": category_id, "iscrowd": 0,
            "segmentation": [circle_polygon(cx, cy, r)], **extra}


class CocoSet:
    """A COCO set a test fills file by file: ``add(bytes, ...)`` -> the image id; ``write()`` the json."""

    def __init__(self, folder: str, categories=({"id": 1, "name": "apple"},)):
        self.folder, self.images_dir = str(folder), os.path.join(str(folder), "images")
        os.makedirs(self.images_dir, exist_ok=True)
        self.images, self.annotations, self.categories = [], [], list(categories)

    def add(self, data: bytes | None, name: str | None = None, anns: list | None = None, image_id=None,
            size: tuple[int, int] | None = (W, H), **entry) -> int | str:
        """Write ``data`` as images/<name> (None: no file) and list it; ``anns`` default to one disc."""
        image_id = len(self.images) + 1 if image_id is None else image_id
        name = f"{image_id}.jpg" if name is None else name
        if data is not None:
            with open(os.path.join(self.images_dir, name), "wb") as f:
                f.write(data)
        dims = {"width": size[0], "height": size[1]} if size else {}
        self.images.append({"id": image_id, "file_name": name, **dims, **entry})
        for i, ann in enumerate([disc_ann(None, image_id)] if anns is None else anns):
            auto = image_id * 100 + i if isinstance(image_id, int) else f"{image_id}{i}"
            self.annotations.append({"id": auto if ann.get("id") is None else ann["id"],
                                     **{k: v for k, v in ann.items() if k != "id"}, "image_id": image_id})
        return image_id

    def write(self, **extra) -> str:
        path = os.path.join(self.folder, "instances.json")
        with open(path, "w") as f:
            json.dump({"images": self.images, "annotations": self.annotations,
                       "categories": self.categories, **extra}, f)
        return path


def fault_config(annotations: str, images: str, *overrides: str):
    """The demo recipe on a test's COCO set: 128 px, 8 images per shard, key prefix 'f'."""
    return load_config(DEMO_CONFIG, [f"source.annotations={annotations}", f"source.images={images}",
                                     "source.name=f", f"image.size={SIZE}", "source.shard_size=8",
                                     *overrides])


def build(coco: CocoSet, out: str, *overrides: str, beam_args=()) -> dict:
    """Write the set's json, run the whole pipeline in-process; returns report.json's content."""
    cfg = fault_config(coco.write(), coco.images_dir, *overrides)
    return run_build(cfg, out, list(beam_args), log=lambda *_: None)


def image_key(image_id) -> str:
    return f"f-{image_id:012d}" if isinstance(image_id, int) else f"f-{image_id}"


def reject_rows(out: str) -> list[dict]:
    return [r for k in outputs.finished_shards(out) for r in outputs.read_rejects_table(out, k).to_pylist()]


def samples(out: str) -> dict[str, dict]:
    """Every written pair by key, read with webdataset's own tar iterators."""
    return {s["__key__"]: s for k in outputs.finished_shards(out) for s in outputs.iter_samples(out, k)}


def outcomes(out: str) -> dict[str, str]:
    """key -> 'pair' or 'stage/reason' for every image and candidate key the run wrote down."""
    result: dict[str, str] = {}
    for key in samples(out):
        result[key] = "pair"
    for r in reject_rows(out):
        assert r["key"] not in result, f"{r['key']} has two outcomes: {result[r['key']]} and {r}"
        result[r["key"]] = f"{r['stage']}/{r['reason']}"
    return result


def assert_accounting(out: str, report: dict) -> None:
    """The invariant: images in = images rejected + images with candidates; candidates = pairs + candidate
    rejects, stage by stage; every reject row has a stage and a reason; nothing lost, nothing unplanned."""
    assert report["lost_images"] == []
    assert report["shards_missing"] == [] and report["shards_done"] == report["shards_planned"]
    assert report["images_in"] == report["images_rejected"] + report["images_with_candidates"]
    entering = report["candidates"]
    for row in report["stages"]:
        assert row["candidates_in"] == entering, row
        assert row["candidates_kept"] == entering - sum(row["candidates_dropped"].values()), row
        entering = row["candidates_kept"]
    assert entering == report["pairs"]
    _assert_files_agree(out, report)


def _assert_files_agree(out: str, report: dict) -> None:
    """The funnel against what the files hold: tars, pair parquet, rejects parquet, plans, stats."""
    rows, pairs = reject_rows(out), samples(out)
    assert all(r["stage"] and r["reason"] and r["level"] in ("image", "candidate") for r in rows), rows
    image_rows = [r for r in rows if r["level"] == "image"]
    cand_rows = [r for r in rows if r["level"] == "candidate"]
    assert len(image_rows) == report["images_rejected"] == sum(
        sum(s["images_dropped"].values()) for s in report["stages"])
    assert len(cand_rows) == report["candidates"] - report["pairs"]
    assert len(pairs) == report["pairs"]
    keys = [r["key"] for r in rows] + list(pairs)
    assert len(keys) == len(set(keys)), "a key has more than one outcome"
    planned = {e.key for k in planned_shards(out) for e in read_entries(out, k)}
    assert len(planned) == report["images_in"]
    # a BrushData sample is one image: its key is the image's (its json has no image_key)
    expanded = {r["image_key"] for r in cand_rows} | {json.loads(s["json"]).get("image_key", key)
                                                      for key, s in pairs.items()}
    rejected = {r["key"] for r in image_rows}
    assert rejected | expanded == planned, "an image with no outcome, or an outcome with no image"
    by_reason = collections.Counter((r["level"], f"{r['stage']}/{r['reason']}") for r in rows)
    assert by_reason == collections.Counter({(level, f"{s['stage']}/{reason}"): n for s in report["stages"]
                                             for level, field in (("image", "images_dropped"),
                                                                  ("candidate", "candidates_dropped"))
                                             for reason, n in s[field].items()})
    totals = collections.Counter()
    for k in outputs.finished_shards(out):
        stats = outputs.read_stats(out, k)
        assert stats["lost_images"] == [] and stats["unplanned_images"] == []
        assert outputs.read_pairs_table(out, k, ["key"]).num_rows == stats["pairs"]
        totals.update({f: stats[f] for f in ("images_in", "images_rejected", "candidates", "pairs")})
    assert all(totals[f] == report[f] for f in totals), (totals, report)
