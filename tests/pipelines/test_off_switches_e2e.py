"""Every documented way to switch something off runs through the whole life of an output: build, report,
retune, export and the card, each exit 0 through the commands a user runs, the funnel adding up.

The switches: a threshold set to null (``filters.min_sam_iou``, Grounded-SAM's filter), no cap on objects per
image (``filters.max_objects: 0``), no quality checks (``quality.kind: none``, the demo's), a CLIP scorer with
no checks listed (``quality.stages: []``), and an export without a test split (``--test-fraction 0``)."""
from __future__ import annotations

import json
import os

import pyarrow.parquet as pq
import pytest

from faults.kit import assert_accounting
from helpers import DEMO_CONFIG
from pipelines import cli
from tiny_models import session_models

SMALL = ["source.limit=3", "image.size=64", "image.min_side=16", "filters.max_border_touch=1",
         "filters.min_component_share=0", "filters.min_pixels=1", "filters.max_area_ratio=1"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return session_models(tmp_path_factory)


def grounded(tiny) -> list[str]:
    return ["masks.kind=grounded_sam", f"masks.grounding.model={tiny['grounding_dino']}",
            f"masks.grounding.sam_model={tiny['hf_sam']}", "masks.grounding.box_threshold=0",
            "masks.grounding.text_threshold=0", "masks.grounding.max_boxes=3",
            "masks.grounding.prompt_source=categories"]


SWITCHES = {   # name: (overrides given the tiny models, retune --set items)
    "a null threshold": (lambda t: [*grounded(t), "filters.min_sam_iou=null"],
                         ["filters.min_sam_iou=0.5", "filters.min_sam_iou=null"]),
    "no cap on objects": (lambda t: ["filters.max_objects=0"], ["filters.max_objects=3", "filters.min_pixels=4"]),
    "no quality checks": (lambda t: ["quality.kind=none"], ["quality.max_consensus=0.1"]),
    "a scorer with no checks": (lambda t: ["quality.kind=clip", f"quality.clip.model={t['clip']}",
                                           "quality.stages=[]"], ["quality.max_consensus=0.1"]),
}


def _sets(items: list[str]) -> list[str]:
    return [a for item in items for a in ("--set", item)]


@pytest.mark.parametrize("name", sorted(SWITCHES))
def test_a_switched_off_setting_builds_reports_retunes_exports_and_cards(name, tiny, tmp_path, capsys):
    overrides, retunes = SWITCHES[name]
    out, to = str(tmp_path / "out"), str(tmp_path / "export")
    assert cli.main(["build", "--config", DEMO_CONFIG, "--output", out, *_sets([*SMALL, *overrides(tiny)])]) == 0
    report = json.load(open(os.path.join(out, "report.json")))
    assert_accounting(out, report)
    assert report["pairs"] > 0, "the build wrote no pair: the switch's later steps went untested"
    assert cli.main(["report", out]) == 0
    assert "<html" in open(os.path.join(out, "report.html")).read()
    for item in retunes:
        capsys.readouterr()
        assert cli.main(["retune", out, "--set", item]) == 0, item
        lines = capsys.readouterr().out.splitlines()
        pairs = next(line for line in lines if line.startswith("pairs"))
        assert int(pairs.split()[1]) == report["pairs"], (item, lines)   # 'kept now' is the build's own count
    assert cli.main(["export", out, "--to", to, "--test-fraction", "0"]) == 0
    rows = sum(pq.read_metadata(os.path.join(to, "data", n)).num_rows for n in os.listdir(os.path.join(to, "data")))
    assert rows == report["pairs"] and not [n for n in os.listdir(os.path.join(to, "data")) if "test" in n]
    for card in (os.path.join(out, "README.md"), os.path.join(to, "README.md")):
        assert open(card).read().startswith("---"), card


def test_a_null_threshold_draws_no_line_and_retune_can_switch_one_off(tiny, tmp_path, capsys):
    """With min_sam_iou off the report still shows SAM's IoU histogram, without a threshold line; a
    retune that switches the filter off keeps everything the filter dropped."""
    out = str(tmp_path / "out")
    assert cli.main(["build", "--config", DEMO_CONFIG, "--output", out,
                     *_sets([*SMALL, *grounded(tiny), "filters.min_sam_iou=null"])]) == 0
    page = open(os.path.join(out, "report.html")).read()
    assert 'data-score="sam_iou"' in page and 'data-key="filters.min_sam_iou"' not in page
    strict = str(tmp_path / "strict")
    assert cli.main(["build", "--config", DEMO_CONFIG, "--output", strict,
                     *_sets([*SMALL, *grounded(tiny), "filters.min_sam_iou=1000.0"])]) == 0
    assert json.load(open(os.path.join(strict, "report.json")))["pairs"] == 0
    capsys.readouterr()
    assert cli.main(["retune", strict, "--set", "filters.min_sam_iou=null"]) == 0
    table = {line.split()[0]: line.split()[1:] for line in capsys.readouterr().out.splitlines()[1:] if line.split()}
    dropped = sum(pq.read_table(os.path.join(strict, "rejects", n)).to_pandas()["reason"].eq("low_sam_iou").sum()
                  for n in os.listdir(os.path.join(strict, "rejects")))
    # each candidate the filter dropped passes with it off; having no later scores, only a rebuild places it
    assert dropped > 0 and int(table["unknown"][1]) == dropped and int(table["pairs"][1]) == 0
    assert cli.main(["retune", strict, "--set", "filters.max_border_touch=null"]) == 2   # not switchable
