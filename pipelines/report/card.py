"""The dataset card: README.md in the Hugging Face format, written from a run's own records, never by hand.

Sources: config.yaml (recipe, models, thresholds), the shards' stats (the funnel, exactly as report.json),
the pairs' parquet sidecars (sources, licences, classes, locations, instruction kinds) and one pair's json
(models named in the metadata). The output format (its config's ``output.format``) says what its samples
hold and how the card words them. ``write_card(out)`` writes OUT/README.md for the WebDataset shards (every
run, and ``inpaint-pairs report``); with a layout, the card of an export.
"""
from __future__ import annotations

import collections
import contextlib
import json
from concurrent.futures import ThreadPoolExecutor
from functools import partial

import yaml

from model_wrappers.locate import split_named
from pipelines import outputs
from pipelines.report.card_text import hf_licence, render_card
from pipelines.plan import read_summary
from pipelines.report.funnel import build_report, collect
from pipelines.report.gallery import spread
from transforms.core import fileio
from transforms.formats import OutputFormat

def run_models(meta: dict) -> list[dict]:
    """The models of a pair's metadata, one row per stage and model: {where: the stage, id, revision}. Pairs
    record them per stage under ``models`` (a hub id as ``owner/name@commit`` when the hub cache held it)."""
    per_stage = meta.get("models") or {}
    rows = []
    for stage in per_stage:
        refs = per_stage[stage] if isinstance(per_stage[stage], list) else [per_stage[stage]]
        for ref in refs:
            ident, revision = split_named(str(ref))
            rows.append({"where": stage, "id": ident, "revision": revision})
    return rows


def _licence_urls(out: str, shard: int, wanted: set[str]) -> dict[str, str]:
    urls = {}
    for meta in outputs.read_pairs_table(out, shard, ["metadata_json"]).column(0).to_pylist():
        meta = json.loads(meta)
        if meta.get("licence", "") in wanted - urls.keys():
            urls[meta.get("licence", "")] = meta.get("licence_url", "")
    return urls


def _names(values: list) -> list[str]:
    """A class column's values as names: a string each, or (one sample of many masks) a list each."""
    return [n for v in values for n in (v if isinstance(v, list) else [v])]


def shard_counts(out: str, fmt: OutputFormat, shard: int) -> dict:
    """Counters over one shard's samples, from the small sidecar columns the format names."""
    columns = [c for c in fmt.card_columns() if c not in ("key", "metadata_json")]   # the small ones
    cols = outputs.read_pairs_table(out, shard, columns).to_pydict()
    c = {"datasets": collections.Counter(cols["dataset"]), "licences": collections.Counter(cols["licence"]),
         "classes": collections.Counter(_names(cols[fmt.class_column])),
         "locations": collections.Counter(cols[fmt.location_column] if fmt.location_column else [])}
    c["kinds"] = collections.Counter({kind: sum(1 for v in cols[col] if v) for kind, col in fmt.kind_columns.items()})
    return {**c, "images_with_pairs": len(set(cols["image_key"]))}  # an image never spans shards


def pair_counts(out: str, fmt: OutputFormat, shards: list[int], threads: int = 8) -> dict:
    """Counters over every finished sample (sidecars read by a few threads: the cost is per file, and
    latency-bound on object storage); metadata_json is read only for a shard bringing a new licence."""
    total = {k: collections.Counter() for k in ("datasets", "licences", "classes", "locations", "kinds")}
    urls: dict[str, str] = {}
    images = 0
    with ThreadPoolExecutor(threads) as pool:
        for shard, part in zip(shards, pool.map(partial(shard_counts, out, fmt), shards)):
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


def metadata_sample(out: str, spread_counts: list[tuple[int, int]]) -> dict:
    """The union of the sidecar metadata (metadata_json) of the first sample of the given shards."""
    merged: dict = {}
    for shard, _ in spread_counts:
        meta = json.loads(outputs.read_pairs_table(out, shard, ["metadata_json"]).column(0)[0].as_py())
        merged = merge_meta(merged, meta)
    return merged


def json_member_sample(out: str, spread_counts: list[tuple[int, int]]) -> dict:
    """The union of the ``json`` tar member of the first sample of the given shards: what a reader of the
    tars gets (the card declares its types)."""
    merged: dict = {}
    for shard, _ in spread_counts:
        with contextlib.closing(outputs.iter_samples(out, shard)) as samples:
            first = next(samples, None)
        if first is not None and "json" in first:
            merged = merge_meta(merged, json.loads(first["json"]))
    return merged


def gather(out: str, shards: int = 16) -> dict:
    """Everything the card says, from the run's records (the first sample of up to ``shards`` shards spread
    over the run stands for the metadata's shape)."""
    config_text = fileio.read_bytes(fileio.join(out, "config.yaml")).decode()
    config = yaml.safe_load(config_text)
    fmt = outputs.output_format(out)
    stats, missing = collect(out)
    report = build_report(stats, missing, read_summary(out))
    counts = pair_counts(out, fmt, [s["shard"] for s in stats])
    picked = spread([(s["shard"], s["pairs"]) for s in stats], shards)
    sample = metadata_sample(out, picked)
    unique = run_models(sample)  # what ran, as each pair records it; config.yaml also holds unused sections
    licences = sorted({hf_licence(n, counts["licence_urls"].get(n, "")) for n in counts["licences"]} or {"other"})
    return {"config": config, "config_text": config_text, "report": report, "counts": counts, "format": fmt,
            "models": unique, "licences": licences, "json_member": json_member_sample(out, picked),
            "tar_bytes": outputs.tar_bytes(out, [s["shard"] for s in stats])}


def run_layout(facts: dict) -> dict:
    """The card's data layout of a run's own shards: the format's members, as a webdataset config."""
    fmt = facts["format"]
    ext = (facts["config"].get("output") or {}).get("image_format", "jpg")
    return {"kind": "webdataset", "configs": {"default": {"train": "shards/*.tar"}},
            "features": {"default": fmt.features(ext, facts["json_member"])},
            "splits": {"default": {"train": (facts["report"]["pairs"], facts["tar_bytes"])}},
            "loading": fmt.card.loading}


def write_card(out: str, layout: dict | None = None, to: str | None = None) -> str:
    """Write the dataset card of ``out``: OUT/README.md for the run's own shards, or ``to``/README.md
    with ``layout`` for an export of them (pipelines/export.py). Returns its path."""
    facts = gather(out)
    path = fileio.join(to or out, "README.md")
    fileio.write_atomic(path, render_card(facts, layout or run_layout(facts)).encode())
    return path
