"""Recorded scores of a run, per scored stage: what report.html's histograms draw.

Kept candidates' scores are in the sidecars' ``metadata_json`` (``scores``); dropped candidates' in the
rejects parquet's ``scores`` column (JSON). A candidate reached a stage when it carries that stage's score;
it was dropped there when its reject row names the stage (and, for a filter rule, that rule's reason).
Thresholds are read from the run's config.yaml, the schema's defaults for keys it leaves out.
"""
from __future__ import annotations

import json
from dataclasses import MISSING
from typing import get_type_hints

import yaml

from configs.schema import Config
from configs.schema.base import nullable_fields
from pipelines import outputs
from transforms.core import fileio
from transforms.core.stage import within
from transforms.quality import QUALITY
from transforms.stages import filter as filter_stage


def scored() -> tuple:
    """(score, stage, reasons that drop it at that stage or None = any, [(config key, 'min'|'max')]) per
    scored stage, derived from the declarations: the filter stage's RULES (one row per score, its rules'
    reasons together) and each quality check's thresholds, in the stage order."""
    rows: dict[str, tuple] = {}
    for rule in filter_stage.RULES:
        _, _, reasons, keys = rows.setdefault(rule.score, (rule.score, "filter", [], []))
        reasons.append(rule.reason)
        keys.append((rule.key, rule.direction))
    found = [(score, stage, tuple(reasons), keys) for score, stage, reasons, keys in rows.values()]
    for stage, step in QUALITY.items():   # a model check may also drop for other reasons: any counts
        found += [(t.score, stage, None, [(t.key, t.direction)]) for t in step.thresholds]
    return tuple(found)


def _section(key: str) -> type:
    """The schema's section class of a 'section.name' threshold key."""
    return get_type_hints(Config)[key.split(".")[0]]


def switchable() -> set[str]:
    """The threshold keys whose schema field takes null (switched off)."""
    return {key for _, _, _, keys in scored() for key, _ in keys
            if key.split(".")[1] in nullable_fields(_section(key))}


def thresholds(config: dict) -> dict[str, float | None]:
    """'section.key' -> value for every threshold of ``scored()``: the config's value, else the schema
    default; None for a threshold the config switched off (``null``)."""
    found = {}
    for _, _, _, keys in scored():
        for key, _ in keys:
            section, name = key.split(".")
            value = (config.get(section) or {}).get(name, MISSING)
            value = getattr(_section(key)(), name) if value is MISSING else value
            found[key] = None if value is None else float(value)
    return found


def recorded(out: str) -> list[dict]:
    """Every candidate of the finished shards: {'key', 'shard', 'image_key', 'scores', 'stage', 'reason'}
    (stage '' = kept). A BrushData sample keeps several masks, its scores a list with one dict per mask:
    one row per mask, keyed by the sample."""
    rows = []
    for shard in outputs.finished_shards(out):
        pairs = outputs.read_pairs_table(out, shard, ["key", "image_key", "metadata_json"]).to_pylist()
        for p in pairs:
            meta = json.loads(p.get("metadata_json") or "{}")
            found = meta.get("scores") or {}
            for one in (found if isinstance(found, list) else [found]):
                rows.append({"key": p["key"], "shard": shard, "image_key": p["image_key"], "scores": one or {},
                             "stage": "", "reason": ""})
        for r in outputs.read_rejects_table(out, shard).to_pylist():
            if r["level"] == "candidate":
                rows.append({"key": r["key"], "shard": shard, "image_key": r["image_key"],
                             "scores": json.loads(r["scores"] or "{}"), "stage": r["stage"], "reason": r["reason"]})
    return rows


def passes(value: float, limits: list[tuple[str, str]], values: dict[str, float | None]) -> bool:
    """``value`` passes each of ``limits`` (a limit switched off, None, passes everything)."""
    return all(within(value, values[k], d) for k, d in limits)


def distributions(rows: list[dict], limits: dict[str, float], strip: int = 4) -> list[dict]:
    """Per scored stage that some candidate reached: {'score', 'stage', 'thresholds': [(key, dir, value)],
    'kept': [values], 'dropped': [values], 'nearby': [(label, kept count)], 'strips': [see ``strips``]}."""
    found = []
    for score, stage, reasons, keys in scored():
        kept, dropped = [], []
        for r in rows:
            if score not in r["scores"] or not isinstance(r["scores"][score], (int, float)):
                continue
            here = r["stage"] == stage and (reasons is None or r["reason"] in reasons)
            (dropped if here else kept).append((float(r["scores"][score]), r))
        if kept or dropped:
            thresholds = [(k, d, limits[k]) for k, d in keys if limits[k] is not None]   # drawn: those on
            found.append({"score": score, "stage": stage, "kept": [v for v, _ in kept],
                          "dropped": [v for v, _ in dropped], "thresholds": thresholds,
                          "nearby": nearby([v for v, _ in kept + dropped], keys, limits),
                          "strips": strips(kept, dropped, thresholds, strip)})
    return found


def strips(kept: list[tuple[float, dict]], dropped: list[tuple[float, dict]], thresholds: list[tuple],
           n: int) -> list[dict]:
    """Per threshold, the ``n`` candidates kept at the stage nearest above it (on its passing side) and the
    ``n`` dropped there nearest below it (on its failing side), nearest first, ties by key:
    [{'key', 'dir', 'value', 'above': [(score, row)], 'below': [(score, row)]}]."""
    found = []
    for key, direction, t in thresholds:
        passing = (lambda v: v >= t) if direction == "min" else (lambda v: v <= t)
        def nearest(pool, side):  # noqa: E306 - one use, reads as a sentence
            return sorted(((v, r) for v, r in pool if side(v)), key=lambda vr: (abs(vr[0] - t), vr[1]["key"]))[:n]
        found.append({"key": key, "dir": direction, "value": t, "above": nearest(kept, passing),
                      "below": nearest(dropped, lambda v: not passing(v))})
    return found


def nearby(values: list[float], keys: list[tuple[str, str]], limits: dict[str, float]) -> list[tuple[str, int]]:
    """How many of ``values`` each of a few thresholds around each configured one would keep."""
    table = []
    for key, _ in keys:
        t = limits[key]
        if t is None:   # switched off: no threshold to move
            continue
        step = abs(t) * 0.05 or (max(values) - min(values)) / 20 or 0.01
        for k in (-2, -1, 0, 1, 2):
            trial = dict(limits, **{key: round(t + k * step, 6)})
            table.append((f"{key}={trial[key]:.4g}", sum(passes(v, keys, trial) for v in values)))
    return table


def read_config(out: str) -> dict:
    return yaml.safe_load(fileio.read_bytes(fileio.join(out, "config.yaml"))) or {}
