"""Merge the per-shard stats into report.json (the funnel) and report.html (funnel + sample gallery)."""
from __future__ import annotations

import base64
import collections
import html
import io
import json
import tarfile

from transforms import fileio
from transforms.record import STAGES


def collect(out: str) -> tuple[list[dict], list[int]]:
    """(stats of every finished shard, ids of planned shards without stats)."""
    planned = [int(n[:6]) for n in fileio.list_names(fileio.join(out, "plan"), "[0-9]*.json")]
    stats = [fileio.read_json(fileio.join(out, "shards", f"{k:06d}.stats.json")) for k in planned
             if fileio.exists(fileio.join(out, "shards", f"{k:06d}.stats.json"))]
    done = {s["shard"] for s in stats}
    return stats, [k for k in planned if k not in done]


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
    stages = STAGES + sorted({k.split("/")[0] for c in dropped.values() for k in c} - set(STAGES))
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
             f"  {'stage':<10} {'in':>8} {'kept':>8}  dropped"]
    for row in report["stages"]:
        drops = {**{f"image:{k}": v for k, v in row["images_dropped"].items()}, **row["candidates_dropped"]}
        if row["candidates_in"] or drops:
            reasons = ", ".join(f"{k}={v}" for k, v in drops.items()) or "-"
            lines.append(f"  {row['stage']:<10} {row['candidates_in']:>8} {row['candidates_kept']:>8}  {reasons}")
    if report["lost_images"]:
        lines.append(f"  LOST (no pair, no reject): {report['lost_images'][:10]}")
    if report["shards_missing"]:
        lines.append(f"  shards not finished: {report['shards_missing'][:20]}")
    return "\n".join(lines)


def _thumb(data: bytes, side: int = 160) -> str:
    from PIL import Image
    im = Image.open(io.BytesIO(data))
    im.thumbnail((side, side))
    buf = io.BytesIO()
    im.convert("RGB").save(buf, "JPEG", quality=80)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode()


def gallery_samples(out: str, shards: list[int], n: int) -> list[dict]:
    """The first ``n`` pairs of the given shards, members as bytes, read back from the tars."""
    samples: list[dict] = []
    for k in shards:
        with fileio.open_read(fileio.join(out, "shards", f"{k:06d}.tar")) as f, tarfile.open(fileobj=f, mode="r|") as tar:
            current: dict = {}
            for member in tar:
                key, _, ext = member.name.partition(".")
                if current and current["__key__"] != key:
                    samples.append(current)
                    current = {}
                current["__key__"] = key
                current[ext] = tar.extractfile(member).read()
                if len(samples) >= n:
                    return samples
            if current:
                samples.append(current)
        if len(samples) >= n:
            break
    return samples[:n]


def render_html(report: dict, samples: list[dict]) -> str:
    rows = "".join(
        f"<tr><td>{html.escape(r['stage'])}</td><td>{r['candidates_in']}</td><td>{r['candidates_kept']}</td>"
        f"<td>{html.escape(', '.join(f'{k}={v}' for k, v in {**r['images_dropped'], **r['candidates_dropped']}.items()))}"
        f"</td></tr>" for r in report["stages"])
    cards = []
    for s in samples:
        meta = json.loads(s["json"])
        imgs = "".join(f'<img src="{_thumb(s[m])}" alt="{m}" title="{m}">' for m in sorted(s)
                       if m.endswith((".jpg", ".png")))
        cards.append(f'<div class="card">{imgs}<p><b>{html.escape(s["txt"].decode())}</b><br>'
                     f'{html.escape(meta.get("class", ""))} · {html.escape(s["__key__"])}</p></div>')
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>inpaint-pairs report</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;
padding:4px 8px}}.card{{display:inline-block;margin:6px;vertical-align:top;max-width:500px}}
.card img{{height:120px;margin-right:2px}}</style></head><body>
<h1>inpaint-pairs report</h1>
<p>{report['images_in']} images in, {report['candidates']} candidates, <b>{report['pairs']} pairs</b>;
shards {report['shards_done']}/{report['shards_planned']}.</p>
<h2>Funnel</h2><table><tr><th>stage</th><th>candidates in</th><th>kept</th><th>dropped (reason=count)</th></tr>
{rows}</table><h2>Samples (source · mask · target)</h2>{''.join(cards)}</body></html>"""


def write_report(out: str, gallery: int = 24) -> dict:
    stats, missing = collect(out)
    report = funnel(stats)
    report.update({"shards_planned": len(stats) + len(missing), "shards_done": len(stats),
                   "shards_missing": missing})
    fileio.write_json(fileio.join(out, "report.json"), report)
    done = sorted(s["shard"] for s in stats if s["pairs"])
    fileio.write_atomic(fileio.join(out, "report.html"),
                        render_html(report, gallery_samples(out, done, gallery)).encode())
    return report
