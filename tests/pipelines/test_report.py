"""report.html / rejects.html / preview: written from real builds, read back through a browser and Pillow."""
from __future__ import annotations

import base64
import glob
import io
import json
import os
import re
import shutil
import subprocess

import numpy as np
import pyarrow.parquet as pq
import pytest
import skimage.data
from PIL import Image

from helpers import circle_polygon, demo_config, write_coco
from pipelines import cli
from pipelines.report.gallery import spread
from pipelines.report import build_report, collect

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
URI = re.compile(r'src="data:image/jpeg;base64,([^"]+)"')


@pytest.fixture(scope="module")
def mixed_build(tmp_path_factory):
    """Two photos (a kept object, a too-small one), an undecodable file and a missing file: image-level
    and candidate-level rejects in one small run."""
    from pipelines.run import run_build
    folder = tmp_path_factory.mktemp("mixed")
    photos = {"1.jpg": np.asarray(Image.fromarray(skimage.data.coffee()).resize((256, 192))),
              "2.jpg": np.asarray(Image.fromarray(skimage.data.chelsea()).resize((256, 192)))}
    anns = [{"id": 1, "image_id": 1, "category_id": 1, "segmentation": [circle_polygon(128, 96, 50)]},
            {"id": 2, "image_id": 2, "category_id": 1, "segmentation": [circle_polygon(100, 90, 4)]},
            {"id": 3, "image_id": 2, "category_id": 1, "segmentation": [circle_polygon(150, 100, 40)]}]
    extra = [{"id": 3, "file_name": "broken.jpg"}, {"id": 4, "file_name": "absent.jpg"}]
    ann_path, images = write_coco(str(folder), photos, anns, extra_images=extra)
    with open(os.path.join(images, "broken.jpg"), "wb") as f:
        f.write(b"\xff\xd8 not really a jpeg")
    cfg = demo_config(f"source.annotations={ann_path}", f"source.images={images}", "source.shard_size=2",
                      "image.size=192")
    out = str(folder / "out")
    return out, run_build(cfg, out, [], log=lambda *_: None)


def _decoded(page: str) -> list[Image.Image]:
    return [Image.open(io.BytesIO(base64.b64decode(b))) for b in URI.findall(page)]


def _read(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read()


def test_spread_takes_n_pairs_from_shards_spread_over_the_run():
    assert spread([(0, 4), (1, 4), (2, 0), (3, 1)], 3) == [(0, 1), (1, 1), (3, 1)]
    assert sum(k for _, k in spread([(0, 4), (1, 4), (2, 0), (3, 1)], 8)) == 8
    assert spread([(0, 2), (1, 2)], 50) == [(0, 2), (1, 2)]
    assert [s for s, _ in spread([(k, 100) for k in range(1000)], 4)] == [0, 250, 500, 750]
    assert spread([], 5) == [] and spread([(0, 3)], 0) == []


def test_report_files_match_the_shards(demo_build):
    out, report = demo_build
    assert json.loads(_read(f"{out}/report.json")) == report == build_report(*collect(out))
    page = _read(f"{out}/report.html")
    keys = re.findall(r'class="pair" data-key="([^"]+)"', page)
    rows = {r["key"]: r for r in pq.read_table(sorted(glob.glob(f"{out}/shards/*.parquet"))).to_pylist()}
    assert len(keys) == min(32, report["pairs"]) and set(keys) <= rows.keys()
    first = rows[keys[0]]
    assert first["instruction"] in page and first["class_name"] in page
    images = _decoded(page.split('<div id="gallery">', 1)[1])   # the score strips above have their own
    assert len(images) == 3 * len(keys) and all(max(im.size) == 144 for im in images)
    target, overlay = np.asarray(images[1], int), np.asarray(images[2], int)
    assert (np.abs(target - overlay).sum(axis=2) > 30).any(), "the mask is tinted on the third picture"
    for r in report["stages"]:
        for reason in r["candidates_dropped"]:
            assert f'href=\'rejects.html#candidate-{r["stage"]}-{reason}\'' in page
    assert "<script" not in page and "http" not in page.split("<body>")[1].replace("rejects.html", "")


def test_rejects_page_groups_by_reason_with_pictures_where_the_image_loads(mixed_build):
    out, report = mixed_build
    assert report["images_rejected"] == 2 and report["pairs"] >= 1
    page = _read(f"{out}/rejects.html")
    sections = dict(re.findall(r"<section id='([^']+)'>(.*?)</section>", page, re.S))
    expected = {f"{lvl}-{r['stage']}-{k}" for r in report["stages"] for lvl, key in
                (("image", "images_dropped"), ("candidate", "candidates_dropped")) for k in r[key]}
    assert set(sections) == expected and any(s.startswith("candidate-filter-") for s in expected)
    for sid, html in sections.items():
        if sid.startswith("image-load-"):  # undecodable or missing: nothing to show, the detail instead
            assert "<img" not in html and "did not load" in html
        else:
            pics = _decoded(html)
            assert pics and all(max(p.size) == 144 for p in pics)


def _browser(page: str, tmp_path, probe: str) -> str:
    """Open a copy of ``page`` in headless Chromium with a probe script appended; return the DOM after load."""
    html = _read(page).replace("</body>", f"<script>addEventListener('load', () => {{{probe}}})</script></body>")
    copy = tmp_path / os.path.basename(page)
    copy.write_text(html, encoding="utf-8")
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
           "--window-size=1200,900", "--virtual-time-budget=5000", "--dump-dom", copy.as_uri()]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True).stdout


PROBE = ("document.querySelectorAll('#gallery img, .rej img').forEach(i => i.setAttribute('data-ok', "
         "i.complete && i.naturalWidth > 0 ? 'yes' : 'no'));"
         "document.querySelectorAll('.bar').forEach(b => b.querySelectorAll('.seg').forEach(s => "
         "s.setAttribute('data-px', Math.round(s.getBoundingClientRect().width))));")


@pytest.mark.skipif(not CHROMIUM, reason="Debian's chromium is not installed (make test installs it)")
def test_browser_shows_the_funnel_and_every_gallery_image_decodes(demo_build, tmp_path):
    out, report = demo_build
    dom = _browser(f"{out}/report.html", tmp_path, PROBE)
    oks = re.findall(r'data-ok="(\w+)"', dom)
    assert len(oks) == 3 * min(32, report["pairs"]) and set(oks) == {"yes"}
    kept = {stage: int(px) for stage, px in re.findall(
        r'class="bar" data-stage="(\w+)"><span class="seg kept"[^>]*data-px="(\d+)"', dom)}
    active = [r for r in report["stages"] if r["candidates_in"]]
    assert {r["stage"] for r in active} <= kept.keys()
    first, last = active[0], active[-1]
    assert kept[first["stage"]] > kept[last["stage"]] > 0
    ratio = kept[last["stage"]] / kept[first["stage"]]
    assert ratio == pytest.approx(last["candidates_kept"] / first["candidates_kept"], abs=0.02)
    drops = re.findall(r'class="seg drop"[^>]*title="([^"]+)"[^>]*data-px="(\d+)"', dom)
    assert drops and all(int(px) > 0 for _, px in drops)


@pytest.mark.skipif(not CHROMIUM, reason="Debian's chromium is not installed (make test installs it)")
def test_browser_decodes_every_reject_picture(mixed_build, tmp_path):
    dom = _browser(f"{mixed_build[0]}/rejects.html", tmp_path, PROBE)
    oks = re.findall(r'data-ok="(\w+)"', dom)
    assert oks and set(oks) == {"yes"}


def test_report_command_remerges_finished_shards_only(demo_build, copy_of, capsys):
    out = copy_of(demo_build[0])
    gone = json.loads(_read(f"{out}/shards/000001.stats.json"))
    os.remove(f"{out}/shards/000001.stats.json")
    assert cli.main(["report", out]) == 0
    report = json.loads(_read(f"{out}/report.json"))
    assert report["pairs"] == demo_build[1]["pairs"] - gone["pairs"] and report["shards_missing"] == [1]
    assert "shards not finished: [1]" in capsys.readouterr().out
    assert "Shards not finished" in _read(f"{out}/report.html") and os.path.exists(f"{out}/README.md")


def test_preview_writes_a_gallery_and_a_contact_sheet(demo_build, tmp_path, capsys):
    out = demo_build[0]
    sheet, page = tmp_path / "sheet.png", tmp_path / "preview.html"
    assert cli.main(["preview", out, "--n", "5", "--png", str(sheet), "--html", str(page)]) == 0
    assert "preview: 5 pairs" in capsys.readouterr().out
    assert len(re.findall(r'class="pair"', _read(str(page)))) == 5
    im = Image.open(sheet)
    assert im.format == "PNG" and im.size == (2 * (3 * 144 + 12), 3 * (144 + 34))
    assert np.asarray(im.convert("L")).std() > 20, "the sheet holds pictures, not a blank page"


@pytest.mark.parametrize("args", [["report", "{tmp}"], ["preview", "{tmp}"], ["preview", "{out}", "--bogus"]])
def test_view_commands_reject_a_folder_that_is_not_an_output(demo_build, tmp_path, capsys, args):
    argv = [a.format(tmp=tmp_path, out=demo_build[0]) for a in args]
    assert cli.main(argv) == 2
    assert capsys.readouterr().err.startswith("inpaint-pairs: error:")
