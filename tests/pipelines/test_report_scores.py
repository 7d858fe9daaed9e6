"""Score histograms of report.html, from real tiny-model PIPE builds (configs/pipe_coco.yaml): the recorded
scores add up to the funnel, the nearby-threshold counts match what the stage kept, and in Chromium every
histogram renders with its threshold line where the config puts it."""
from __future__ import annotations

import glob
import importlib.util
import json
import os
import re
from html.parser import HTMLParser

import pyarrow.parquet as pq
import pytest
import webdataset as wds

from pipelines import cli
from pipelines.report import scores
from pipelines.report.retune import parse_sets, retune
from pipelines.report.histograms import W


def _sibling(name: str):
    """A test module of this folder (pytest runs with --import-mode=importlib: siblings are not importable)."""
    spec = importlib.util.spec_from_file_location(f"_{name}", os.path.join(os.path.dirname(__file__), f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_e2e, _report = _sibling("test_pipe_filters_e2e"), _sibling("test_report")
build, between, sets = _e2e.build, _e2e.between, _e2e.sets   # sets: the tiny-model PIPE module fixture
CHROMIUM, _browser = _report.CHROMIUM, _report._browser

CLIP = {"clip_class": ("clip_prefilter", "quality.min_class_similarity", "low"),
        "consensus_std": ("consensus", "quality.max_consensus", "high"),
        "importance_similarity": ("importance", "quality.max_importance", "high")}
MASK = ("pixels", "area_ratio", "border_touch", "component_share")


@pytest.fixture(scope="module")
def strict(sets, tmp_path_factory):  # noqa: F811
    """A build whose CLIP thresholds each sit between two of the open build's scores: each drops some."""
    open_out = str(tmp_path_factory.mktemp("open") / "out")
    _, pairs, _ = build(sets, open_out)
    alive, limits = [p["scores"] for p in pairs], {}
    for score, (_, key, worst) in CLIP.items():   # in PIPE's order: each drops the worst of what reaches it
        limits[key] = between([a[score] for a in alive], worst)
        pick = min if worst == "low" else max
        alive.remove(pick(alive, key=lambda a: a[score]))
    out = str(tmp_path_factory.mktemp("strict") / "out")
    report, _, _ = build(sets, out, [f"{k}={v}" for k, v in limits.items()])
    return out, report, limits, open_out


def test_recorded_scores_cover_every_candidate_and_match_the_funnel(strict):
    out, report, limits, _ = strict
    rows = scores.recorded(out)
    assert len(rows) == report["candidates"] == 8
    dists = {d["score"]: d for d in scores.distributions(rows, scores.thresholds(scores.read_config(out)))}
    assert set(CLIP) | set(MASK) <= dists.keys()
    assert all(len(dists[s]["kept"]) + len(dists[s]["dropped"]) == 8 for s in MASK)
    stages = {r["stage"]: r for r in report["stages"]}
    for score, (stage, key, _) in CLIP.items():
        d = dists[score]
        assert d["thresholds"] == [(key, "min" if key.split(".")[1].startswith("min") else "max", limits[key])]
        assert len(d["kept"]) + len(d["dropped"]) == stages[stage]["candidates_in"]
        assert len(d["dropped"]) == sum(stages[stage]["candidates_dropped"].values()) >= 1
        at_threshold = dict(d["nearby"])[f"{key}={round(limits[key], 6):.4g}"]
        assert at_threshold == len(d["kept"]) == stages[stage]["candidates_kept"]


@pytest.mark.skipif(not CHROMIUM, reason="Debian's chromium is not installed (make test installs it)")
def test_browser_renders_every_histogram_with_its_threshold_line(strict, tmp_path):
    out, report, limits, _ = strict
    probe = ("document.querySelectorAll('svg.hist').forEach(s => { const r = s.getBoundingClientRect();"
             "s.setAttribute('data-px', Math.round(r.width));"
             "s.querySelectorAll('line.threshold').forEach(l => l.setAttribute('data-dx',"
             "(l.getBoundingClientRect().left + l.getBoundingClientRect().width / 2 - r.left).toFixed(1)));"
             "s.setAttribute('data-bars', s.querySelectorAll('rect').length); });"
             "document.querySelectorAll('.strip figure img').forEach(i => i.setAttribute('data-w',"
             "Math.round(i.getBoundingClientRect().width)));")
    dom = _browser(f"{out}/report.html", tmp_path, probe)
    svgs = {m.group(1): m.group(0) for m in re.finditer(r'<svg class="hist" data-score="(\w+)".*?</svg>', dom, re.S)}
    assert set(CLIP) | set(MASK) <= svgs.keys()
    for score, text in svgs.items():
        assert re.search(rf'data-px="{W}"', text) and int(re.search(r'data-bars="(\d+)"', text).group(1)) >= 1
    for score, (_, key, _) in CLIP.items():
        text = svgs[score]
        lo, hi = (float(re.search(rf'data-{n}="([^"]+)"', text).group(1)) for n in ("lo", "hi"))
        dx = float(re.search(rf'data-key="{re.escape(key)}"[^>]*data-dx="([^"]+)"', text).group(1))
        assert dx == pytest.approx(W * (limits[key] - lo) / (hi - lo), abs=1.5)
        assert 'class="dropped"' in text and 'class="kept"' in text
    strip_widths = [int(w) for w in re.findall(r'<figure class="near [^"]*"[^>]*><img [^>]*data-w="(\d+)"', dom)]
    assert len(strip_widths) >= 2 * len(CLIP) and min(strip_widths) > 0   # every strip picture is drawn


def test_retune_of_the_open_build_gives_the_strict_rebuilds_funnel(strict, capsys):
    out, report, limits, open_out = strict
    sets_ = [f"{k}={v}" for k, v in limits.items()]
    table = retune(open_out, parse_sets(sets_)[0])
    rows = {r["stage"]: r for r in table}
    rebuilt = {r["stage"]: r for r in report["stages"]}
    assert [r["stage"] for r in table[:-2]] == list(rebuilt)
    assert {s: r["kept_new"] for s, r in rows.items() if s in rebuilt} == \
        {s: r["candidates_kept"] for s, r in rebuilt.items()}
    assert rows["pairs"]["kept_new"] == report["pairs"] == 8 - len(CLIP)
    assert rows["pairs"]["kept_now"] == 8 and rows["unknown"]["kept_new"] == 0
    # the other way round: loosening the strict build's thresholds cannot place what it dropped
    back = {r["stage"]: r for r in retune(out, parse_sets([f"{k}=0.0" if "min" in k else f"{k}=2"
                                                          for k in limits])[0])}
    assert back["unknown"]["kept_new"] == len(CLIP) and back["pairs"]["kept_now"] == report["pairs"]
    assert cli.main(["retune", open_out, *[f"--set={s}" for s in sets_], "--set=filters.max_objects=2"]) == 0
    printed = capsys.readouterr().out
    assert "filters.max_objects: only a rebuild applies it" in printed
    assert re.search(rf"^pairs\s+8\s+{report['pairs']}$", printed, re.M)
    assert cli.main(["retune", open_out, "--set=quality.bogus=1"]) == 2
    assert "quality.bogus" in capsys.readouterr().err


class _Strips(HTMLParser):
    """report.html's strips: threshold key -> {'inside': [(key, value, has picture)], 'outside': [...]}."""

    def __init__(self):
        super().__init__()
        self.strips, self.key, self.side, self.figure = {}, None, None, None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "div" and a.get("class") == "strip":
            self.key = a["data-key"]
            self.strips[self.key] = {"inside": [], "outside": []}
        elif tag == "div" and a.get("class") in ("inside", "outside") and self.key:
            self.side = a["class"]
        elif tag == "figure" and (a.get("class") or "").startswith("near "):
            self.figure = [a["data-key"], float(a["data-value"]), False]
            self.strips[self.key][self.side].append(self.figure)
        elif tag == "img" and self.figure is not None:
            self.figure[2] = a["src"].startswith("data:image/")

    def handle_endtag(self, tag):
        if tag == "figure":
            self.figure = None


def test_each_threshold_has_a_strip_of_the_candidates_nearest_to_it(strict):
    """For each CLIP stage of the strict build: the dropped side holds exactly what the stage dropped (its
    reject rows), the kept side the kept candidates nearest the threshold, nearest first; every one pictured.
    Expected values come from the open build's pair jsons (every candidate kept there, same seeds)."""
    out, report, limits, open_out = strict
    value = {json.loads(s["json"])["key"]: json.loads(s["json"])["scores"]
             for s in wds.WebDataset(sorted(glob.glob(f"{open_out}/shards/*.tar")), shardshuffle=False)}
    rejects = pq.read_table(sorted(glob.glob(f"{out}/rejects/*.parquet"))).to_pylist()
    parser = _Strips()
    parser.feed(open(f"{out}/report.html").read())
    gone: set = set()
    for score, (stage, key, _) in CLIP.items():
        t, at_least = limits[key], key.split(".")[1].startswith("min")
        dropped = {r["key"] for r in rejects if r["stage"] == stage}
        kept = sorted(set(value) - gone - dropped, key=lambda k: (abs(value[k][score] - t), k))
        strip = parser.strips[key]
        assert [k for k, _, _ in strip["outside"]] == sorted(dropped) and len(dropped) == 1
        assert [k for k, _, _ in strip["inside"]] == kept[:4]
        for k, v, pictured in strip["inside"] + strip["outside"]:
            assert v == pytest.approx(value[k][score]) and pictured
            assert (v >= t if at_least else v <= t) == (k not in dropped)
        gone |= dropped



def test_brushdata_histograms_count_every_mask_of_every_sample(tmp_path):
    """BrushData keeps several masks per sample (its scores a list, one dict per mask): every candidate that
    reaches the filter is counted once, kept (a mask of a sample, or dropped later) or dropped there."""
    from configs.schema import load_config
    from helpers import DEMO_CONFIG
    from pipelines.run import run_build
    out = str(tmp_path / "o")
    report = run_build(load_config(DEMO_CONFIG, ["output.format=brushdata", "filters.min_area_ratio=0.02"]), out, [],
                       log=lambda *_: None)
    masks = sum(pq.read_table(sorted(glob.glob(f"{out}/shards/*.parquet")), columns=["num_masks"]).column(0)
                .to_pylist())
    dropped = [r for r in pq.read_table(sorted(glob.glob(f"{out}/rejects/*.parquet"))).to_pylist()
               if r["level"] == "candidate"]
    assert masks + len(dropped) == report["candidates"] and masks >= 1 and dropped
    dists = {d["score"]: d for d in scores.distributions(scores.recorded(out), scores.thresholds(scores.read_config(out)))}
    assert set(MASK) <= dists.keys()
    filtered = {r["stage"]: r for r in report["stages"]}["filter"]
    for score in MASK:
        assert len(dists[score]["kept"]) + len(dists[score]["dropped"]) == filtered["candidates_in"], score
    assert len(dists["area_ratio"]["kept"]) == filtered["candidates_in"] - len(dists["area_ratio"]["dropped"])
    assert len(dists["area_ratio"]["dropped"]) == sum(r["reason"] in ("area_too_small", "area_too_large")
                                                      for r in dropped) >= 1
    assert len(dists["border_touch"]["dropped"]) == filtered["candidates_dropped"]["touches_border"] >= 1
    page = open(f"{out}/report.html").read()
    assert all(f'<svg class="hist" data-score="{s}"' in page for s in MASK)
