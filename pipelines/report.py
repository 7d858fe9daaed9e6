"""Merge the per-shard stats into report.json (the funnel), report.html (funnel chart, reject counts,
sample gallery) and rejects.html (examples of every reject reason). Rerunnable at any time on any output:
only finished shards (with a stats json) count.
"""
from __future__ import annotations

import collections

from pipelines import gallery, outputs, report_html
from transforms import fileio
from transforms.record import STAGES


def collect(out: str) -> tuple[list[dict], list[int]]:
    """(stats of every finished shard, ids of planned shards without stats)."""
    planned = outputs.planned_shards(out)
    finished = set(outputs.finished_shards(out))
    stats = [outputs.read_stats(out, k) for k in planned if k in finished]
    return stats, [k for k in planned if k not in finished]


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
    ran = {"read", "write"}.union(*(s.get("stages", STAGES) for s in stats))  # read: rejects at planning
    seen = {k.split("/")[0] for c in dropped.values() for k in c}
    stages = [st for st in STAGES if st in ran | seen] + sorted(seen - set(STAGES))
    rows, entering = [], total["candidates"]
    for stage in stages:
        image_drops = {k.split("/", 1)[1]: v for k, v in dropped["image"].items() if k.split("/")[0] == stage}
        cand_drops = {k.split("/", 1)[1]: v for k, v in dropped["candidate"].items() if k.split("/")[0] == stage}
        kept = entering - sum(cand_drops.values())
        rows.append({"stage": stage, "images_dropped": dict(sorted(image_drops.items())),
                     "candidates_in": entering, "candidates_dropped": dict(sorted(cand_drops.items())),
                     "candidates_kept": kept})
        entering = kept
    return {**{k: total[k] for k in ("images_in", "images_rejected", "images_with_candidates", "candidates",
                                      "pairs")},
            "lost_images": sorted(lost), "stages": rows}


def format_funnel(report: dict) -> str:
    lines = [f"funnel: {report['images_in']} images in, {report['images_rejected']} rejected, "
             f"{report['candidates']} candidates, {report['pairs']} pairs written "
             f"({report['shards_done']}/{report['shards_planned']} shards)",
             f"  {'stage':<14} {'in':>8} {'kept':>8}  dropped"]
    for row in report["stages"]:
        drops = {**{f"image:{k}": v for k, v in row["images_dropped"].items()}, **row["candidates_dropped"]}
        if row["candidates_in"] or drops:
            reasons = ", ".join(f"{k}={v}" for k, v in drops.items()) or "-"
            lines.append(f"  {row['stage']:<14} {row['candidates_in']:>8} {row['candidates_kept']:>8}  {reasons}")
    if report["lost_images"]:
        lines.append(f"  LOST (no pair, no reject): {report['lost_images'][:10]}")
    if report["shards_missing"]:
        lines.append(f"  shards not finished: {report['shards_missing'][:20]}")
    return "\n".join(lines)


def build_report(stats: list[dict], missing: list[int]) -> dict:
    """The funnel of the finished shards plus shard accounting (report.json's content)."""
    report = funnel(stats)
    report.update({"shards_planned": len(stats) + len(missing), "shards_done": len(stats),
                   "shards_missing": missing})
    return report


def reject_groups(out: str, report: dict, per_reason: int) -> list[tuple]:
    """((level, stage, reason), count, [(row, picture or None)]) for every reason of the funnel."""
    counts = {(lvl, r["stage"], k): v for r in report["stages"] for lvl, key in
              (("image", "images_dropped"), ("candidate", "candidates_dropped")) for k, v in r[key].items()}
    examples = gallery.reject_examples(out, counts, per_reason)
    plans: dict = {}
    return [(g, n, [(row, gallery.reject_picture(out, row, plans)) for row in examples.get(g, [])])
            for g, n in counts.items()]


def write_pages(out: str, report: dict, counts: list[tuple[int, int]], n: int = 32, per_reason: int = 6) -> None:
    """report.html (funnel + ``n`` sample pairs from shards spread over ``counts`` = (shard, pairs)) and
    rejects.html (``per_reason`` examples per reason)."""
    views = [gallery.pair_view(s) for s in gallery.sample_pairs(out, n, counts)]
    fileio.write_atomic(fileio.join(out, "report.html"), report_html.report_page(report, views).encode())
    rejects = report_html.rejects_page(report, reject_groups(out, report, per_reason))
    fileio.write_atomic(fileio.join(out, "rejects.html"), rejects.encode())


def write_report(out: str, gallery_size: int = 32, per_reason: int = 6) -> dict:
    """Re-merge the shards' stats into report.json, then write report.html and rejects.html."""
    stats, missing = collect(out)
    report = build_report(stats, missing)
    fileio.write_json(fileio.join(out, "report.json"), report)
    write_pages(out, report, [(s["shard"], s["pairs"]) for s in stats], gallery_size, per_reason)
    return report


def preview(out: str, n: int = 64, png: str | None = None, html: str | None = None) -> dict:
    """A gallery of ``n`` pairs of an existing output (HTML page, default OUT/preview.html) and, with
    ``png``, a Pillow contact sheet. Returns {"html", "png", "pairs"}."""
    outputs.require_output(out)
    stats, missing = collect(out)
    report = build_report(stats, missing)
    views = [gallery.pair_view(s) for s in gallery.sample_pairs(out, n, [(s["shard"], s["pairs"]) for s in stats])]
    html = html or fileio.join(out, "preview.html")
    fileio.write_atomic(html, report_html.report_page(report, views).encode())
    if png:
        gallery.contact_sheet(views).save(png)
    return {"html": html, "png": png, "pairs": len(views)}
