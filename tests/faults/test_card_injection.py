"""Markdown/HTML injection into the dataset card: hostile class names and licences end
as inert text in README.md -- rendered with a real Markdown renderer, they make no heading, link, image,
tag or script -- and only http(s) URLs stay linkable."""
from __future__ import annotations

import os
import re

from markdown_it import MarkdownIt

from faults.kit import CocoSet, assert_accounting, encode, fault_config, scene
from pipelines.report.card_text import md, url_cell
from pipelines.run import run_build

EVIL_NAMES = ["apple\n## INJECTED HEADING\n![x](http://evil.test/x.png)", "<script>alert(1)</script>",
              '<img src=x onerror="alert(2)">', "[click](javascript:alert(3))", "pipe | cell ` tick"]
EVIL_LICENCE = {"id": 1, "name": "<b>CC</b> [BY](javascript:alert(4))", "url": "javascript:alert(5)"}


def test_md_makes_input_text_inert():
    html = MarkdownIt("commonmark").enable("table").render("| a |\n|---|\n| " + md(EVIL_NAMES[0]) + " |")
    assert "<h2" not in html and "<img" not in html and "INJECTED HEADING" in html
    assert md("plain words 0.25 12") == "plain words 0.25 12"
    assert url_cell("https://creativecommons.org/licenses/by/4.0/") == "https://creativecommons.org/licenses/by/4.0/"
    assert url_cell("javascript:alert(1)").startswith("`") and url_cell("") == "-"


def test_hostile_names_and_licences_stay_text_in_the_card(tmp_path):
    cats = [{"id": i + 1, "name": n} for i, n in enumerate(EVIL_NAMES)]
    coco = CocoSet(tmp_path / "in", cats)
    for i in range(len(EVIL_NAMES)):
        ann = {"id": None, "image_id": None, "category_id": i + 1, "iscrowd": 0,
               "segmentation": [[40, 30, 80, 30, 80, 70, 40, 70]]}
        coco.add(encode(scene()), anns=[ann], license=1)
    out = str(tmp_path / "out")
    report = run_build(fault_config(coco.write(licenses=[EVIL_LICENCE]), coco.images_dir), out, [],
                       log=lambda *_: None)
    assert_accounting(out, report)
    card = open(os.path.join(out, "README.md"), encoding="utf-8").read()
    body = card.split("\n---\n", 1)[1]
    html = MarkdownIt("commonmark").enable("table").render(body)
    assert report["pairs"] >= 1 and "INJECTED HEADING" in html       # the name is there, as text
    assert not re.search(r"<h\d[^>]*>\s*INJECTED", html)
    assert not re.search(r"<(script|img|b)\b", html), re.findall(r"<(?:script|img|b)\b[^>]*>", html)
    assert "javascript:" not in "".join(re.findall(r'href="([^"]*)"', html))
    assert not any(line.startswith("## INJECTED") for line in card.splitlines())

