"""The funnel: the per-shard stats merged into report.json's numbers (PIPE Table S8 style), in the one
stage order of pipelines/chain.py (``order()``). Only finished shards (with a stats json) count.
"""
from __future__ import annotations

import collections

from pipelines import verify
from pipelines.chain import order
from pipelines.model_calls import format_calls
from pipelines.plan import planned_shards


def collect(out: str) -> tuple[list[dict], list[int]]:
    """(stats of every finished shard, ids of planned shards without stats). Stops, naming them, when
    finished shards are damaged (pipelines/verify.py: sizes against their stats)."""
    finished = verify.require_intact(out)   # each stats json read once, checked and parsed
    planned = planned_shards(out)
    return [finished[k] for k in planned if k in finished], [k for k in planned if k not in finished]


def funnel(stats: list[dict]) -> dict:
    """Totals and one row per stage: candidates entering, kept, and dropped per reason (PIPE Table S8)."""
    total = collections.Counter()
    dropped = {"image": collections.Counter(), "candidate": collections.Counter()}
    lost = []
    for s in stats:
        for k in ("images_in", "images_rejected", "images_with_candidates", "candidates", "pairs"):
            total[k] += s[k]
        for level in dropped:
            dropped[level].update(s["dropped"][level])
        lost += s["lost_images"]
    known = order()
    ran = {"read", "write"}.union(*(s.get("stages", known) for s in stats))  # read: rejects at planning
    seen = {k.split("/")[0] for c in dropped.values() for k in c}
    stages = [st for st in known if st in ran | seen] + sorted(seen - set(known))
    rows, entering = [], total["candidates"]
    for stage in stages:
        image_drops = {k.split("/", 1)[1]: v for k, v in dropped["image"].items() if k.split("/")[0] == stage}
        cand_drops = {k.split("/", 1)[1]: v for k, v in dropped["candidate"].items() if k.split("/")[0] == stage}
        kept = entering - sum(cand_drops.values())
        rows.append({"stage": stage, "images_dropped": dict(sorted(image_drops.items())),
                     "candidates_in": entering, "candidates_dropped": dict(sorted(cand_drops.items())),
                     "candidates_kept": kept})
        entering = kept
    report = {**{k: total[k] for k in ("images_in", "images_rejected", "images_with_candidates", "candidates",
                                        "pairs")},
              "lost_images": sorted(lost), "stages": rows}
    if any("sources" in s for s in stats):
        report["sources"] = by_source(stats)
    return report


COUNTS = ("images_in", "images_rejected", "candidates", "pairs")


def by_source(stats: list[dict]) -> dict:
    """A mix's rows per source, summed over the shards: each adds up to the total's counts."""
    rows: dict = {}
    for s in stats:
        for name, r in s.get("sources", {}).items():
            row = rows.setdefault(name, {**{k: 0 for k in COUNTS}, "dropped": collections.Counter()})
            for k in COUNTS:
                row[k] += r[k]
            row["dropped"].update(r["dropped"])
    return {name: {**r, "dropped": dict(sorted(r["dropped"].items()))} for name, r in sorted(rows.items())}


def format_sources(report: dict, unit: str) -> list[str]:
    """One line per source of a mix, and the images two of them name."""
    lines = []
    for name, r in report.get("sources", {}).items():
        top = sorted(r["dropped"].items(), key=lambda kv: (-kv[1], kv[0]))[:4]
        lines.append(f"  source {name}: {r['images_in']} images, {r['images_rejected']} rejected, "
                     f"{r['candidates']} candidates, {r['pairs']} {unit}"
                     + (f"; most dropped: {', '.join(f'{k}={v}' for k, v in top)}" if top else ""))
    if "images_in_several" in report:
        lines.append(f"  {report['images_in_several']} images named by two sources or more: loaded once, "
                     f"counted under the first")
    return lines


def format_funnel(report: dict, unit: str = "pairs") -> str:
    """The funnel as an aligned table (the stage column as wide as the longest name); ``unit`` is what the
    output format writes (its card's plural noun). ``in``/``kept`` count candidates; images a stage drops
    whole (load: unreadable, too small) are listed apart as ``images dropped``, so a load row keeping all
    its candidates while dropping images reads right."""
    shown = [r for r in report["stages"] if r["candidates_in"] or r["images_dropped"] or r["candidates_dropped"]]
    width = max([len("stage")] + [len(r["stage"]) for r in shown])
    lines = [f"funnel: {report['images_in']} images in, {report['images_rejected']} rejected, "
             f"{report['candidates']} candidates, {report['pairs']} {unit} written "
             f"({report['shards_done']}/{report['shards_planned']} shards)",
             f"  {'stage':<{width}} {'cand in':>8} {'kept':>8}  dropped"]
    for row in shown:
        parts = []
        if row["candidates_dropped"]:
            parts.append(", ".join(f"{k}={v}" for k, v in row["candidates_dropped"].items()))
        if row["images_dropped"]:
            parts.append("images dropped: " + ", ".join(f"{k}={v}" for k, v in row["images_dropped"].items()))
        lines.append(f"  {row['stage']:<{width}} {row['candidates_in']:>8} {row['candidates_kept']:>8}  "
                     f"{'; '.join(parts) or '-'}")
    lines += format_sources(report, unit)
    if report.get("where"):
        lines.append(f"  source.where {report['where']!r}: {report['where_left_out']} rows left out, never planned")
    if report["lost_images"]:
        lines.append(f"  LOST (no pair, no reject): {report['lost_images'][:10]}")
    if report["shards_missing"]:
        lines.append(f"  shards not finished: {report['shards_missing'][:20]}")
    return "\n".join(lines + format_calls(report.get("model_calls", {})))


def build_report(stats: list[dict], missing: list[int], plan_summary: dict | None = None) -> dict:
    """The funnel of the finished shards plus shard accounting (report.json's content); with a plan
    summary (pipelines/plan.py ``read_summary``) also ``where`` and ``where_left_out`` (rows not planned)."""
    report = funnel(stats)
    report.update({"shards_planned": len(stats) + len(missing), "shards_done": len(stats),
                   "shards_missing": missing, **(plan_summary or {})})
    return report
