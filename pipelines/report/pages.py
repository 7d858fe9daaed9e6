"""report.html (funnel chart, reject counts, sample gallery), rejects.html (examples of every reject
reason) and preview pages. Rerunnable at any time on any output: only finished shards count.
"""
from __future__ import annotations

from pipelines import model_calls, outputs
from pipelines.plan import read_summary
from pipelines.report import gallery, histograms, html, scores
from pipelines.report.funnel import build_report, collect
from transforms.core import fileio


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
    fmt = outputs.output_format(out)
    views = [fmt.view(s) for s in gallery.sample_pairs(out, n, counts)]
    dists = scores.distributions(scores.recorded(out), scores.thresholds(scores.read_config(out)))
    plans: dict = {}
    pictures = {(r["shard"], r["key"]): gallery.reject_picture(out, {**r, "level": "candidate"}, plans, side=96)
                for r in histograms.strip_rows(dists)}
    page = html.report_page(report, views, histograms.section(dists, pictures), fmt.card.unit)
    fileio.write_atomic(fileio.join(out, "report.html"), page.encode())
    rejects = html.rejects_page(report, reject_groups(out, report, per_reason), fmt.card.unit)
    fileio.write_atomic(fileio.join(out, "rejects.html"), rejects.encode())


def write_report(out: str, gallery_size: int = 32, per_reason: int = 6) -> dict:
    """Re-merge the shards' stats into report.json, then write report.html and rejects.html."""
    stats, missing = collect(out)
    report = build_report(stats, missing, read_summary(out))
    calls = model_calls.recorded(out)
    if calls:   # model stages ran: how full their calls were
        report["model_calls"] = calls
    fileio.write_json(fileio.join(out, "report.json"), report)
    write_pages(out, report, [(s["shard"], s["pairs"]) for s in stats], gallery_size, per_reason)
    return report


def preview(out: str, n: int = 64, png: str | None = None, html_path: str | None = None) -> dict:
    """A gallery of ``n`` pairs of an existing output (HTML page, default OUT/preview.html) and, with
    ``png``, a Pillow contact sheet. Returns {"html", "png", "pairs"}."""
    outputs.require_output(out)
    stats, missing = collect(out)
    report = build_report(stats, missing, read_summary(out))
    fmt = outputs.output_format(out)
    views = [fmt.view(s) for s in gallery.sample_pairs(out, n, [(s["shard"], s["pairs"]) for s in stats])]
    page = html_path or fileio.join(out, "preview.html")
    fileio.write_atomic(page, html.report_page(report, views, unit=fmt.card.unit).encode())
    if png:
        gallery.contact_sheet(views).save(png)
    return {"html": page, "png": png, "pairs": len(views)}
