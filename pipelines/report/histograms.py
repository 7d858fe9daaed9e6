"""Score histograms for report.html: one inline SVG per scored stage (no scripts, opens offline).

Each: the distribution of the score over the candidates that reached the stage in 24 bins, kept (green)
and dropped there (red) stacked, every configured threshold as a vertical line (``data-value``), and a
table of how many candidates a few nearby thresholds would keep, and per threshold a strip of the
candidates nearest to it on each side (kept just inside, dropped just outside) with their pictures. Data
from pipelines/report/scores.py; pictures (the input image, the candidate's mask tinted) from gallery.py.
"""
from __future__ import annotations

from html import escape

from transforms.core.images import data_uri

W, H, BINS = 480, 120, 24


def _span(values: list[float], marks: list[float]) -> tuple[float, float]:
    lo, hi = min(values + marks), max(values + marks)
    pad = (hi - lo) * 0.05 or abs(hi) * 0.05 or 0.01
    return lo - pad, hi + pad


def _x(v: float, lo: float, hi: float) -> float:
    return round(W * (v - lo) / (hi - lo), 2)


def _counts(values: list[float], lo: float, hi: float) -> list[int]:
    counts = [0] * BINS
    for v in values:
        counts[min(BINS - 1, int(BINS * (v - lo) / (hi - lo)))] += 1
    return counts


def svg(d: dict) -> str:
    """The histogram of one entry of scores.distributions as an SVG element (x runs from data-lo to data-hi)."""
    marks = [t for _, _, t in d["thresholds"]]
    lo, hi = _span(d["kept"] + d["dropped"], marks)
    kept, dropped = _counts(d["kept"], lo, hi), _counts(d["dropped"], lo, hi)
    top = max(k + r for k, r in zip(kept, dropped)) or 1
    bw, parts = W / BINS, []
    for i, (k, r) in enumerate(zip(kept, dropped)):
        hk, hr = (H - 14) * k / top, (H - 14) * r / top
        if k:
            parts.append(f'<rect class="kept" x="{i * bw:.2f}" y="{H - hk:.2f}" width="{bw - 1:.2f}" '
                         f'height="{hk:.2f}" fill="#3a7"><title>kept {k}</title></rect>')
        if r:
            parts.append(f'<rect class="dropped" x="{i * bw:.2f}" y="{H - hk - hr:.2f}" width="{bw - 1:.2f}" '
                         f'height="{hr:.2f}" fill="#d9534f"><title>dropped {r}</title></rect>')
    for key, _, t in d["thresholds"]:
        x = _x(t, lo, hi)
        parts.append(f'<line class="threshold" data-key="{escape(key)}" data-value="{t}" x1="{x}" x2="{x}" '
                     f'y1="0" y2="{H}" stroke="#222" stroke-width="2" stroke-dasharray="4 2">'
                     f'<title>{escape(key)} = {t}</title></line>')
    return (f'<svg class="hist" data-score="{escape(d["score"])}" data-lo="{lo}" data-hi="{hi}" width="{W}" '
            f'height="{H}" viewBox="0 0 {W} {H}" role="img">{"".join(parts)}</svg>')


def _near_card(score: float, row: dict, side: str, picture) -> str:
    img = (f'<img src="{data_uri(picture)}" alt="{escape(row["key"])}">' if picture is not None
           else "<small>no picture</small>")
    return (f'<figure class="near {side}" data-key="{escape(row["key"])}" data-value="{score}">{img}'
            f'<figcaption>{score:.4g}<br><small>{escape(row["key"])}</small></figcaption></figure>')


def strip(s: dict, pictures: dict) -> str:
    """One threshold's strip: kept candidates just inside it, dropped ones just outside, nearest first."""
    inside = "".join(_near_card(v, r, "inside", pictures.get((r["shard"], r["key"]))) for v, r in s["above"])
    outside = "".join(_near_card(v, r, "outside", pictures.get((r["shard"], r["key"]))) for v, r in s["below"])
    word = "at least" if s["dir"] == "min" else "at most"
    return (f'<div class="strip" data-key="{escape(s["key"])}"><p><small>nearest to {escape(s["key"])} = '
            f'{s["value"]:g} (kept when {word} it):</small></p>'
            f'<div class="inside"><small>kept, just inside</small><br>{inside or "<small>none</small>"}</div>'
            f'<div class="outside"><small>dropped, just outside</small><br>{outside or "<small>none</small>"}'
            f'</div></div>')


def strip_rows(dists: list[dict]) -> list[dict]:
    """Every candidate row some strip shows (what needs a picture)."""
    return [r for d in dists for s in d.get("strips", ()) for _, r in s["above"] + s["below"]]


def section(dists: list[dict], pictures: dict | None = None) -> str:
    """The 'Scores' section of report.html: per scored stage its histogram, the nearby-threshold table and
    the strips; ``pictures``: (shard, key) -> a Pillow thumbnail or None."""
    if not dists:
        return "<p>No scores recorded: no candidate reached a scored stage.</p>"
    pictures = pictures or {}
    blocks = []
    for d in dists:
        n = len(d["kept"]) + len(d["dropped"])
        rows = "".join(f"<tr><td class='l'>{escape(label)}</td><td>{kept}</td></tr>" for label, kept in d["nearby"])
        limits = ", ".join(f"{k} = {t:g}" for k, _, t in d["thresholds"])
        strips = "".join(strip(s, pictures) for s in d.get("strips", ()))
        blocks.append(f'<div class="score" id="score-{escape(d["score"])}"><h3>{escape(d["stage"])}: '
                      f'{escape(d["score"])} <small>{n} candidates, {len(d["dropped"])} dropped here; '
                      f'{escape(limits)}</small></h3>{svg(d)}<table class="nearby"><tr><th>threshold</th>'
                      f'<th>would keep (of {n})</th></tr>{rows}</table>{strips}</div>')
    return ("<p class='legend'><i class='kept'></i>kept at this stage <i style='background:#d9534f'></i>"
            "dropped at this stage; dashed line: the configured threshold</p>" + "".join(blocks))
