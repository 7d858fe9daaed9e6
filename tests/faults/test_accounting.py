"""The accounting invariant itself: it holds for a build mixing faults of every stage, in one process and
across two worker processes (same outcomes), and the shared checker catches each way it can break."""
from __future__ import annotations

import copy
import json
import os
import shutil

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from faults.kit import CocoSet, assert_accounting, build, disc_ann, encode, image_key, outcomes, scene
from pipelines.run import run_build

MIXED = {  # image -> expected outcome of its key(s): one fault per stage that can drop something
    "pair": ({}, {"-100": "pair"}),
    "truncated": ({"data": encode(scene())[:300]}, {"": "load/corrupt_image"}),
    "no_annotations": ({"anns": []}, {"": "propose/no_objects"}),
    "crowd_and_pair": ({"anns": [disc_ann(1, None, iscrowd=1), disc_ann(2, None)]},
                       {"-1": "propose/iscrowd", "-2": "pair"}),
    "tiny_object": ({"anns": [disc_ann(None, None, disc=(60, 50, 4))]}, {"-500": "filter/too_few_pixels"}),
    "duplicate_id": ({"image_id": 1, "anns": []}, {"-dup-1": "read/duplicate_image_id"}),
    "missing_file": ({"data": None}, {"": "load/file_missing"}),
}


def _mixed_set(folder) -> CocoSet:
    coco = CocoSet(folder)
    for name, (kw, _) in MIXED.items():
        coco.add(**{"data": encode(scene()), "name": f"{name}.jpg", **kw})
    return coco


def _expected() -> dict[str, str]:
    ids = {name: kw.get("image_id", i) for i, (name, (kw, _)) in enumerate(MIXED.items(), 1)}
    return {image_key(ids[name]) + suffix: v for name, (_, outs) in MIXED.items() for suffix, v in outs.items()}


@pytest.fixture(scope="module")
def mixed_build(tmp_path_factory):
    root = tmp_path_factory.mktemp("mixed")
    coco = _mixed_set(root / "in")
    out = str(root / "out")
    return out, build(coco, out, "source.shard_size=3"), coco


def test_every_stage_fault_has_its_outcome_and_the_books_balance(mixed_build):
    out, report, _ = mixed_build
    assert outcomes(out) == _expected()
    assert_accounting(out, report)
    assert report["shards_done"] == 3


def test_two_worker_processes_give_the_same_outcomes_and_balance(mixed_build, tmp_path):
    out, report, coco = mixed_build
    again = str(tmp_path / "two")
    report2 = run_build(copy.deepcopy(_config_of(out)), again, ["--direct_num_workers=2"], log=lambda *_: None)
    assert outcomes(again) == outcomes(out)
    assert_accounting(again, report2)
    assert report2["stages"] == report["stages"]


def _config_of(out: str):
    from configs.schema import load_config
    return load_config(os.path.join(out, "config.yaml"))


# ---- the checker catches every way the books can be wrong --------------------------------------------
@pytest.fixture
def broken(mixed_build, tmp_path):
    out, report, _ = mixed_build
    dst = str(tmp_path / "copy")
    shutil.copytree(out, dst)
    return dst, copy.deepcopy(report)


def _rewrite_rejects(out: str, edit) -> None:
    for name in sorted(os.listdir(os.path.join(out, "rejects"))):
        path = os.path.join(out, "rejects", name)
        rows = pq.read_table(path).to_pylist()
        if rows:
            pq.write_table(pa.Table.from_pylist(edit(rows), schema=pq.read_schema(path)), path)
            return


def test_the_checker_catches_a_lost_reject_row(broken):
    out, report = broken
    _rewrite_rejects(out, lambda rows: rows[1:])
    with pytest.raises(AssertionError):
        assert_accounting(out, report)


def test_the_checker_catches_a_reject_row_without_a_reason(broken):
    out, report = broken
    _rewrite_rejects(out, lambda rows: [{**rows[0], "reason": ""}, *rows[1:]])
    with pytest.raises(AssertionError):
        assert_accounting(out, report)


def test_the_checker_catches_an_image_with_no_outcome(broken):
    out, report = broken
    path = os.path.join(out, "plan", "000000.json")
    plan = json.load(open(path))
    plan["images"].append({**plan["images"][0], "key": "f-ghost"})
    json.dump(plan, open(path, "w"))
    with pytest.raises(AssertionError):
        assert_accounting(out, report)


@pytest.mark.parametrize("field", ["pairs", "images_rejected", "candidates"])
def test_the_checker_catches_a_report_that_miscounts(broken, field):
    out, report = broken
    report[field] += 1
    with pytest.raises(AssertionError):
        assert_accounting(out, report)


def test_the_checker_catches_a_stage_row_that_does_not_add_up(broken):
    out, report = broken
    row = next(r for r in report["stages"] if r["candidates_dropped"])
    row["candidates_kept"] += 1
    with pytest.raises(AssertionError):
        assert_accounting(out, report)


def test_the_checker_catches_a_lost_image_in_the_report(broken):
    out, report = broken
    report["lost_images"] = ["f-000000000001"]
    with pytest.raises(AssertionError):
        assert_accounting(out, report)
