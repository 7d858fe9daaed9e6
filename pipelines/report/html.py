"""HTML for report.html and rejects.html: plain functions from the funnel (report.json's content), gallery
views and reject examples to self-contained pages. Inline CSS bars, images as data URIs, no scripts: the
pages open offline in any browser and stay small however big the run (only samples are embedded).
"""
from __future__ import annotations

from html import escape

from transforms.core.images import data_uri

PALETTE = ("#d9534f", "#f0ad4e", "#5bc0de", "#9b59b6", "#e67e22", "#95a5a6", "#c0392b", "#16a085",
           "#8e44ad", "#2c3e50", "#d35400", "#7f8c8d")
CSS = """body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}h2{margin-top:1.6em}
table{border-collapse:collapse;font-size:90%}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
th,td.l{text-align:left}.warn{color:#b00}
.chart{display:grid;grid-template-columns:7em minmax(200px,55%) auto;gap:4px 10px;align-items:center}
.bar{display:flex;height:18px;background:#f2f2f2}.seg{height:100%}.kept{background:#3a7}
.legend{font-size:85%}.legend i{display:inline-block;width:.8em;height:.8em;margin:0 3px 0 8px}
.pair,.rej{display:inline-block;vertical-align:top;margin:6px;padding:6px;border:1px solid #ddd;
max-width:460px;font-size:85%}.score{display:inline-block;vertical-align:top;margin:6px 18px 6px 0}
.hist{background:#fafafa;border-bottom:1px solid #999;display:block}
.strip{max-width:480px;font-size:85%}.strip figure{display:inline-block;margin:2px;text-align:center}
.near.inside img{border:3px solid #3a7}.near.outside img{border:3px solid #d9534f}.pair img,.rej img{margin-right:2px}small{color:#666}"""


def reason_colours(report: dict) -> dict[str, str]:
    """A stable colour per 'level:stage/reason' (sorted), cycling the palette."""
    names = sorted({f"{lvl}:{r['stage']}/{k}" for r in report["stages"] for lvl, key in
                    (("image", "images_dropped"), ("candidate", "candidates_dropped")) for k in r[key]})
    return {n: PALETTE[i % len(PALETTE)] for i, n in enumerate(names)}


def _bar_row(label: str, total: int, scale: int, kept: int, drops: dict[str, int], colours: dict,
             with_stage: bool = False) -> str:
    def seg(cls: str, colour: str, count: int, title: str) -> str:
        width = 100.0 * count / scale if scale else 0.0
        style = f"width:{width:.3f}%" + (f";background:{colour}" if colour else "")
        return f'<span class="seg {cls}" style="{style}" title="{escape(title)}: {count}"></span>'
    segs = seg("kept", "", kept, "kept") + "".join(
        seg("drop", colours[name], n, name.split(":", 1)[1]) for name, n in drops.items())
    legend = f"<i class='kept'></i>kept {kept}" + "".join(
        f"<i style='background:{colours[name]}'></i>{escape(_reason_label(name, with_stage))} {n}"
        for name, n in drops.items())
    return (f'<div class="l">{escape(label)} <small>{total}</small></div>'
            f'<div class="bar" data-stage="{escape(label)}">{segs}</div><div class="legend">{legend}</div>')


def _reason_label(name: str, with_stage: bool) -> str:
    stage_reason = name.split(":", 1)[1]
    return stage_reason if with_stage else stage_reason.split("/", 1)[1]


def funnel_chart(report: dict) -> str:
    """Images, then candidates stage by stage: one bar each, kept and dropped per reason (PIPE Table S8)."""
    colours = reason_colours(report)
    image_drops = {f"image:{r['stage']}/{k}": v for r in report["stages"] for k, v in r["images_dropped"].items()}
    rows = [_bar_row("images", report["images_in"], report["images_in"], report["images_with_candidates"],
                     image_drops, colours, with_stage=True)]
    scale = max([r["candidates_in"] for r in report["stages"]] + [1])
    for r in report["stages"]:
        drops = {f"candidate:{r['stage']}/{k}": v for k, v in r["candidates_dropped"].items()}
        if r["candidates_in"] or drops:
            rows.append(_bar_row(r["stage"], r["candidates_in"], scale, r["candidates_kept"], drops, colours))
    return f'<div class="chart" id="funnel">{"".join(rows)}</div>'


def funnel_table(report: dict) -> str:
    head = "<tr><th>stage</th><th>candidates in</th><th>kept</th><th>kept %</th><th>images dropped</th>" \
           "<th>candidates dropped</th></tr>"
    body = []
    for r in report["stages"]:
        pct = f"{100 * r['candidates_kept'] / r['candidates_in']:.1f}" if r["candidates_in"] else "-"
        fmt = lambda d: escape(", ".join(f"{k} {v}" for k, v in d.items()) or "-")  # noqa: E731
        body.append(f"<tr><td>{escape(r['stage'])}</td><td>{r['candidates_in']}</td><td>{r['candidates_kept']}</td>"
                    f"<td>{pct}</td><td class='l'>{fmt(r['images_dropped'])}</td>"
                    f"<td class='l'>{fmt(r['candidates_dropped'])}</td></tr>")
    return f'<table id="funnel-table">{head}{"".join(body)}</table>'


def _img(im, alt: str) -> str:
    return f'<img src="{data_uri(im)}" alt="{escape(alt)}" title="{escape(alt)}">'


# what a card's three pictures show (PIPE's pairs); a format's view may name its own under "labels"
LABELS = {"source": "source: object removed", "target": "target: original", "mask": "mask on target"}


def pair_card(view: dict) -> str:
    labels = view.get("labels", LABELS)
    imgs = "".join(_img(view["images"][n], labels[n]) for n in ("source", "target", "mask"))
    scores = ", ".join(f"{k} {v:.3g}" if isinstance(v, (int, float)) else f"{k} {v}"
                       for k, v in view["scores"].items())
    others = "; ".join(f"{k}: {v}" for k, v in view["instructions"].items() if v != view["instruction"])
    return (f'<figure class="pair" data-key="{escape(view["key"])}">{imgs}<figcaption>'
            f'<b>{escape(view["instruction"])}</b><br>{escape(view["class"])} · {escape(view["location"])}'
            f'<br><small>{escape(others)}</small><br><small>{escape(scores)}</small>'
            f'<br><small>{escape(view["key"])}</small></figcaption></figure>')


def summary(report: dict, unit: str = "pairs") -> str:
    """The page's first lines; ``unit`` is what the output format writes (its card's plural noun)."""
    text = (f"<p>{report['images_in']} images in, {report['images_rejected']} rejected; "
            f"{report['candidates']} candidates; <b>{report['pairs']} {escape(unit)}</b>; "
            f"shards {report['shards_done']}/{report['shards_planned']} finished.</p>")
    if report.get("where"):
        text += (f"<p id='where'>source.where <code>{escape(report['where'])}</code> left out "
                 f"{report['where_left_out']} rows, never planned.</p>")
    if report["shards_missing"]:
        text += f"<p class='warn'>Shards not finished: {escape(str(report['shards_missing'][:20]))}</p>"
    if report["lost_images"]:
        text += (f"<p class='warn'>Images with no {escape(unit[:-1])} and no reject: "
                 f"{escape(str(report['lost_images'][:20]))}</p>")
    return text


def reject_table(report: dict, link: str = "rejects.html") -> str:
    rows = [(lvl, r["stage"], k, v) for r in report["stages"] for lvl, key in
            (("image", "images_dropped"), ("candidate", "candidates_dropped")) for k, v in r[key].items()]
    body = "".join(f"<tr><td class='l'>{lvl}</td><td class='l'>{escape(st)}</td><td class='l'>"
                   f"<a href='{link}#{escape(anchor(lvl, st, k))}'>{escape(k)}</a></td><td>{v}</td></tr>"
                   for lvl, st, k, v in rows)
    return (f"<table id='rejects-table'><tr><th>level</th><th>stage</th><th>reason</th><th>count</th></tr>"
            f"{body}</table>") if rows else "<p>No rejects.</p>"


def anchor(level: str, stage: str, reason: str) -> str:
    return f"{level}-{stage}-{reason}"


def page(title: str, body: str) -> str:
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
            f"<style>{CSS}</style></head><body><h1>{escape(title)}</h1>{body}</body></html>")


def report_page(report: dict, views: list[dict], scores: str = "", unit: str = "pairs") -> str:
    """``scores``: the histogram section (pipelines/report/histograms.py), left out when empty; ``unit``:
    what the output format writes ("pairs", "samples", ...)."""
    cards = "".join(pair_card(v) for v in views) or f"<p>No {escape(unit)} yet.</p>"
    labels = views[0].get("labels", LABELS) if views else LABELS
    shows = escape(" · ".join(labels[n] for n in ("source", "target", "mask")))
    return page("inpaint-pairs report", f"""{summary(report, unit)}
<h2>Funnel</h2>{funnel_chart(report)}<h3>Stage by stage</h3>{funnel_table(report)}
<h2>Rejects</h2>{reject_table(report)}<p><a href="rejects.html">Examples of every reject reason</a></p>
{f'<h2>Scores</h2><div id="scores">{scores}</div>' if scores else ''}
<h2>Gallery</h2><p><small>{len(views)} of {report['pairs']} {escape(unit)}, spread over the shards.
Each: {shows}.</small></p><div id="gallery">{cards}</div>""")


def reject_card(row: dict, picture) -> str:
    img = (_img(picture, row["key"]) if picture is not None
           else "<p><small>no picture: the image did not load</small></p>")
    return (f'<figure class="rej" data-key="{escape(row["key"])}">{img}<figcaption><small>{escape(row["key"])}'
            f'<br>{escape(row["detail"] or "")}</small></figcaption></figure>')


def rejects_page(report: dict, groups: list[tuple[tuple, int, list[tuple[dict, object]]]], unit: str = "pairs") -> str:
    """``groups``: ((level, stage, reason), count, [(reject row, picture or None)])."""
    sections = []
    for (lvl, st, reason), count, examples in groups:
        cards = "".join(reject_card(row, pic) for row, pic in examples)
        sections.append(f"<section id='{escape(anchor(lvl, st, reason))}'><h2>{escape(st)} / {escape(reason)} "
                        f"<small>{count} {lvl}{'s' if count != 1 else ''}, {len(examples)} shown</small></h2>"
                        f"{cards}</section>")
    return page("inpaint-pairs rejects", f"{summary(report, unit)}<p><a href='report.html'>back to the report</a></p>"
                                         f"{''.join(sections) or '<p>No rejects.</p>'}")
