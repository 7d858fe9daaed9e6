"""A rerun whose inputs have the recorded sizes and times keeps the stored plan without reading them; one whose
inputs changed, or whose source lists a folder, plans again. Either way the output is a clean build's."""
from __future__ import annotations

import json
import os
import shutil

from helpers import DEMO_CONFIG, DEMO_DATA
from configs.schema import load_config
from pipelines import cli, outputs
from pipelines.plan import read_inputs
from pipelines.run import run_build
from transforms import sources

STANDS = "inputs unchanged: the stored plan stands"


def _tars(out: str) -> dict[int, bytes]:
    return {k: open(os.path.join(out, "shards", f"{k:06d}.tar"), "rb").read() for k in outputs.finished_shards(out)}


def test_an_unchanged_input_is_not_planned_again(tmp_path, monkeypatch):
    data = tmp_path / "demo"
    shutil.copytree(DEMO_DATA, data)
    cfg = load_config(DEMO_CONFIG, [f"source.annotations={data / 'instances.json'}", f"source.images={data / 'images'}"])
    out, lines = str(tmp_path / "out"), []
    run_build(cfg, out, [], log=lines.append, part=(0, 2))
    assert read_inputs(out)["images"] == [4, 3] and not any(STANDS in line for line in lines)
    planned = []
    real = sources.SOURCES["coco"].plan
    monkeypatch.setitem(sources.SOURCES, "coco", sources.Source(lambda c: planned.append(1) or real(c), "COCO"))
    lines.clear()
    report = run_build(cfg, out, [], log=lines.append)               # slice 1/2's shard, then the report
    assert not planned and any(STANDS in line and "1 already done, 1 to build" in line for line in lines)
    clean = str(tmp_path / "clean")
    assert report["pairs"] == run_build(cfg, clean, [], log=lambda *_: None)["pairs"]
    assert _tars(out) == _tars(clean)
    os.utime(data / "instances.json", (1, 1))                        # same bytes, another time: plan again
    lines.clear()
    run_build(cfg, out, [], log=lines.append)
    assert planned and not any(STANDS in line for line in lines)
    assert any("0 to build" in line for line in lines)


def test_a_folder_source_is_planned_every_time(tmp_path):
    cfg = load_config(DEMO_CONFIG, ["source.kind=folder", f"source.images={DEMO_DATA}/images", "source.name=f",
                                    "masks.kind=brush"])
    out, lines = str(tmp_path / "out"), []
    run_build(cfg, out, [], log=lambda *_: None)
    run_build(cfg, out, [], log=lines.append)
    assert not any(STANDS in line for line in lines) and any("0 to build" in line for line in lines)


def test_a_plan_step_then_slices_that_read_it_instead_of_planning(tmp_path, monkeypatch):
    data = tmp_path / "demo"
    shutil.copytree(DEMO_DATA, data)
    sets = [f"source.annotations={data / 'instances.json'}", f"source.images={data / 'images'}"]
    out = str(tmp_path / "out")
    args = ["plan", "--config", DEMO_CONFIG, "--output", out] + [a for s in sets for a in ("--set", s)]
    assert cli.main(args) == 0                                       # as a user runs it, before the array
    assert read_inputs(out)["images"] == [4, 3] and not outputs.finished_shards(out)
    assert sorted(os.listdir(os.path.join(out, "plan"))) == ["000000.json", "000001.json", "inputs.json"]
    planned = []
    real = sources.SOURCES["coco"].plan
    monkeypatch.setitem(sources.SOURCES, "coco", sources.Source(lambda c: planned.append(1) or real(c), "COCO"))
    cfg = load_config(DEMO_CONFIG, sets)
    for i in range(2):                                               # the array's two tasks
        lines = []
        run_build(cfg, out, [], log=lines.append, part=(i, 2))
        assert any(STANDS in line for line in lines)
    assert not planned and outputs.finished_shards(out) == [0, 1]
    clean = str(tmp_path / "clean")
    run_build(cfg, clean, [], log=lambda *_: None)
    assert _tars(out) == _tars(clean)
    assert open(os.path.join(out, "plan", "000001.json"), "rb").read() == \
        open(os.path.join(clean, "plan", "000001.json"), "rb").read()


def test_an_output_planned_before_inputs_json_had_counts_keeps_its_plan(tmp_path, monkeypatch):
    cfg = load_config(DEMO_CONFIG)
    out = str(tmp_path / "out")
    run_build(cfg, out, [], log=lambda *_: None, part=(0, 2))
    inputs = read_inputs(out)
    del inputs["images"]                                             # as an older version wrote it
    with open(os.path.join(out, "plan", "inputs.json"), "w") as f:
        json.dump(inputs, f)
    monkeypatch.setitem(sources.SOURCES, "coco", sources.Source(lambda c: 1 / 0, "COCO"))   # must not plan
    lines = []
    run_build(cfg, out, [], log=lines.append)
    assert any(STANDS in line and "7 images in 2 shards" in line for line in lines)
