"""The dataset card: README.md in the Hugging Face format, written from a run's own records, never by hand.

Sources: config.yaml (recipe, models, thresholds), the shards' stats (the funnel, exactly as report.json),
the pairs' parquet sidecars (sources, licences, classes, locations, instruction kinds) and one pair's json
(models named in the metadata). ``write_card(out)`` writes OUT/README.md for the WebDataset shards (every
run, and ``inpaint-pairs report``); ``write_export_card`` writes the card of a PIPE-format export.
"""
from __future__ import annotations

import collections
import json
from concurrent.futures import ThreadPoolExecutor
from functools import partial

import yaml

from pipelines import outputs, report as reporting
from pipelines.gallery import spread
from pipelines.card_text import hf_licence, render_card
from transforms import fileio

COLUMNS = ["image_key", "class_name", "dataset", "licence", "location", "instruction_add",
           "instruction_add_location", "instruction_remove", "instruction_vlm_llm"]
KINDS = {"instruction_add": "add", "instruction_add_location": "add_location",
         "instruction_remove": "remove", "instruction_vlm_llm": "vlm_llm"}
MODEL_KEYS = ("model", "model_id", "hub_id", "checkpoint", "weights")


def _is_model_key(key: str) -> bool:
    return key in MODEL_KEYS or key.endswith(("_model", "_model_id", "_checkpoint"))


def find_models(tree, where: str = "") -> list[dict]:
    """Every model a metadata tree names: {where, id, revision}. A model is a non-empty string under a key
    such as ``model`` or ``sam_model``; its revision sits beside it (``revision``, ``sam_model_revision``)."""
    found = []
    if isinstance(tree, dict):
        for k, v in tree.items():
            if _is_model_key(k) and isinstance(v, str) and v:
                revision = tree.get(f"{k}_revision") or (tree.get("revision") if k in MODEL_KEYS else "")
                found.append({"where": f"{where}.{k}" if where else k, "id": v, "revision": str(revision or "")})
            else:
                found += find_models(v, f"{where}.{k}" if where else str(k))
    elif isinstance(tree, list):
        for i, v in enumerate(tree):
            found += find_models(v, f"{where}[{i}]")
    return found


def _licence_urls(out: str, shard: int, wanted: set[str]) -> dict[str, str]:
    urls = {}
    for meta in outputs.read_pairs_table(out, shard, ["metadata_json"]).column(0).to_pylist():
        meta = json.loads(meta)
        if meta.get("licence", "") in wanted - urls.keys():
            urls[meta.get("licence", "")] = meta.get("licence_url", "")
    return urls


def shard_counts(out: str, shard: int) -> dict:
    """Counters over one shard's pairs, from small sidecar columns only."""
    cols = outputs.read_pairs_table(out, shard, COLUMNS).to_pydict()
    c = {key: collections.Counter(cols[name]) for key, name in
         (("datasets", "dataset"), ("licences", "licence"), ("classes", "class_name"), ("locations", "location"))}
    c["kinds"] = collections.Counter({kind: sum(1 for v in cols[col] if v) for col, kind in KINDS.items()})
    return {**c, "images_with_pairs": len(set(cols["image_key"]))}  # an image never spans shards


def pair_counts(out: str, shards: list[int], threads: int = 8) -> dict:
    """Counters over every finished pair (sidecars read by a few threads: the cost is per file, and
    latency-bound on object storage); metadata_json is read only for a shard bringing a new licence."""
    total = {k: collections.Counter() for k in ("datasets", "licences", "classes", "locations", "kinds")}
    urls: dict[str, str] = {}
    images = 0
    with ThreadPoolExecutor(threads) as pool:
        for shard, part in zip(shards, pool.map(partial(shard_counts, out), shards)):
            for key in total:
                total[key].update(part[key])
            images += part["images_with_pairs"]
            if set(part["licences"]) - urls.keys():
                urls.update(_licence_urls(out, shard, set(part["licences"]) - urls.keys()))
    return {**total, "images_with_pairs": images, "licence_urls": urls}


def merge_meta(a, b):
    """Union of two pairs' metadata trees (keys of both; the first non-empty leaf wins)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return {k: merge_meta(a.get(k), b.get(k)) for k in {**a, **b}}
    return a if a not in (None, [], "") else b


def metadata_sample(out: str, counts: list[tuple[int, int]], shards: int = 16) -> dict:
    """The union of the first pair's json of up to ``shards`` shards spread over the run."""
    merged: dict = {}
    for shard, _ in spread(counts, shards):
        meta = json.loads(outputs.read_pairs_table(out, shard, ["metadata_json"]).column(0)[0].as_py())
        merged = merge_meta(merged, meta)
    return merged


def gather(out: str) -> dict:
    """Everything the card says, from the run's records."""
    config_text = fileio.read_bytes(fileio.join(out, "config.yaml")).decode()
    config = yaml.safe_load(config_text)
    stats, missing = reporting.collect(out)
    report = reporting.build_report(stats, missing)
    counts = pair_counts(out, [s["shard"] for s in stats])
    sample = metadata_sample(out, [(s["shard"], s["pairs"]) for s in stats])
    models = find_models(sample)  # what ran, as each pair records it; config.yaml also holds unused sections
    unique = list({(m["id"], m["revision"]): m for m in models}.values())
    licences = sorted({hf_licence(n, counts["licence_urls"].get(n, "")) for n in counts["licences"]} or {"other"})
    return {"config": config, "config_text": config_text, "report": report, "counts": counts,
            "models": unique, "licences": licences, "metadata": sample,
            "tar_bytes": outputs.tar_bytes(out, [s["shard"] for s in stats])}


def run_layout(facts: dict) -> dict:
    ext = facts["config"].get("output", {}).get("image_format", "jpg")
    features = [("__key__", "string"), (f"source.{ext}", "image"), (f"target.{ext}", "image"),
                ("mask.png", "image"), ("txt", "string"), ("json", facts["metadata"])]
    return {"kind": "webdataset", "configs": {"default": {"train": "shards/*.tar"}},
            "features": {"default": features},
            "splits": {"default": {"train": (facts["report"]["pairs"], facts["tar_bytes"])}}}


def export_layout(result: dict) -> dict:
    from pipelines.export import MASK_COLUMNS, PIPE_COLUMNS
    kind = lambda c: "image" if c in ("source_img", "target_img", "mask") else "string"  # noqa: E731
    layout = {"kind": "pipe", "configs": {"default": {s: f"data/{s}-*" for s in result["splits"]}},
              "features": {"default": [(c, kind(c)) for c in PIPE_COLUMNS]},
              "splits": {"default": {s: (v["num_examples"], v["num_bytes"]) for s, v in result["splits"].items()}}}
    if result.get("masks"):
        layout["configs"]["masks"] = {"train": "masks/masks-*"}
        layout["features"]["masks"] = [(c, kind(c)) for c in MASK_COLUMNS]
        layout["splits"]["masks"] = {"train": (result["masks"]["num_examples"], result["masks"]["num_bytes"])}
    return layout


def write_card(out: str) -> str:
    """Write OUT/README.md, the dataset card of a run's WebDataset shards; returns its path."""
    facts = gather(out)
    path = fileio.join(out, "README.md")
    fileio.write_atomic(path, render_card(facts, run_layout(facts)).encode())
    return path


def write_export_card(out: str, to: str, result: dict) -> str:
    """Write TO/README.md for a PIPE-format export of ``out`` (``result`` from export_pipe)."""
    facts = gather(out)
    path = fileio.join(to, "README.md")
    fileio.write_atomic(path, render_card(facts, export_layout(result)).encode())
    return path
