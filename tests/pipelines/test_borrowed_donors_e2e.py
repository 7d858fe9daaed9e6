"""BrushData-v2 with Grounded-SAM donors, end to end on the demo photos with tiny random models: the donor
pass finds shapes inside the graph, each clean image borrows one from another image of its shard, and the
shards read back through webdataset and pyarrow say where each mask came from. Same bytes with two worker
processes and after a shard is rebuilt alone; the card says what was built."""
from __future__ import annotations

import glob
import json
import os

import numpy as np
import pyarrow.parquet as pq
import pytest
import webdataset as wds

from configs.schema import load_config
from helpers import DEMO_DATA, ROOT
from pipelines import build, cli, verify
from pipelines.run import run_build
from tiny_models import tiny_overrides
from transforms.formats.brushdata import decode_brushnet_runs, union_mask

V2 = os.path.join(ROOT, "configs", "brushdata_v2_coco.yaml")
V2_LAION = os.path.join(ROOT, "configs", "brushdata_v2_laion.yaml")
SMALL = [f"source.annotations={DEMO_DATA}/instances.json", f"source.images={DEMO_DATA}/images",
         "source.shard_size=3", "image.size=64", "image.min_side=16", "filters.min_pixels=16"]


def _sets(tiny, *more: str) -> list[str]:
    grounding = [s for s in tiny_overrides(tiny, masks="grounded_sam") if s.startswith("masks.grounding.")]
    return [*SMALL, "masks.borrowed.donors=grounded_sam", *grounding, *more]


def _files(out: str) -> dict[str, bytes]:
    found = {}
    for sub in ("shards", "rejects", "plan"):
        for path in sorted(glob.glob(f"{out}/{sub}/*")):
            if not path.endswith("inputs.json"):       # input files' times: this machine's
                with open(path, "rb") as f:
                    found[os.path.relpath(path, out)] = f.read()
    return found


def _rejects(out: str) -> list[dict]:
    return pq.read_table(sorted(glob.glob(f"{out}/rejects/*.parquet"))).to_pylist()


@pytest.fixture(scope="module")
def built(tiny, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("v2") / "out")
    report = run_build(load_config(V2, _sets(tiny, "masks.borrowed.max_objects=100")), out, [], log=lambda *_: None)
    return out, report


def test_each_clean_image_borrows_a_shape_grounded_sam_found_in_another_image_of_its_shard(built, tiny):
    out, report = built
    plan = {e["key"]: int(os.path.basename(p)[:6]) for p in glob.glob(f"{out}/plan/0*.json")
            for e in json.load(open(p))["images"]}
    samples = list(wds.WebDataset(sorted(glob.glob(f"{out}/shards/*.tar")), shardshuffle=False))
    rejects = _rejects(out)
    classes = {c["name"] for c in json.load(open(f"{DEMO_DATA}/instances.json"))["categories"]}
    # every image is a sample or a reject: the lone image of the last shard has nobody to borrow from
    assert sorted([s["__key__"] for s in samples] + [r["key"] for r in rejects]) == sorted(plan)
    assert [(r["key"], r["stage"], r["reason"]) for r in rejects] == [("coco-000000000007", "propose", "no_donor")]
    assert report["pairs"] == len(samples) == 6 and report["images_in"] == 7
    for s in samples:
        meta = json.loads(s["json"])
        h, w = int(s["height"]), int(s["width"])
        assert meta["masks_kind"] == "borrowed" and meta["mask_source"] == "objects"
        assert meta["mask_from_masker"] == "grounded_sam" and meta["mask_from_class"] in classes
        donor = meta["mask_from_image"]
        assert donor != s["__key__"] and plan[donor] == plan[s["__key__"]]     # another image, the same shard
        assert meta["masks_models"] == f"{tiny['grounding_dino']},{tiny['hf_sam']}"
        seg = json.loads(s["segmentation"])
        mask = union_mask(s["segmentation"])
        assert mask.shape == (h, w) and np.array_equal(decode_brushnet_runs(seg["mask"][0], h, w), mask)
        assert 0.01 <= mask.mean() <= 0.8          # filters.min/max_area_ratio of the recipe
    card = open(f"{out}/README.md").read()
    assert "6 clean-background images" in card and "Grounded-SAM found in it cover less than 0.1" in card
    assert "other images of its shard" in card and "`mask_from_masker`" in card and tiny["hf_sam"] in card


def test_the_same_bytes_with_two_workers_and_after_one_shard_is_rebuilt(built, tiny, tmp_path):
    out, _ = built
    want = _files(out)
    two = str(tmp_path / "two")
    run_build(load_config(V2, _sets(tiny, "masks.borrowed.max_objects=100")), two, ["--direct_num_workers=2"],
              log=lambda *_: None)
    assert _files(two) == want
    verify.unfinish(two, [1])                  # shard 1 alone is built again: its pool is its own images
    run_build(load_config(V2, _sets(tiny, "masks.borrowed.max_objects=100")), two, [], log=lambda *_: None)
    assert _files(two) == want


def test_busy_images_are_judged_by_what_grounded_sam_found(tiny, tmp_path):
    out = str(tmp_path / "busy")
    report = run_build(load_config(V2, _sets(tiny, "masks.borrowed.max_object_share=0")), out, [],
                       log=lambda *_: None)
    rejects = _rejects(out)
    assert report["pairs"] == 0 and len(rejects) == report["images_in"] == 7
    busy = [r for r in rejects if r["reason"] == "busy_background"]
    assert busy and all(" found by grounded_sam cover " in r["detail"] for r in busy)
    assert {r["reason"] for r in rejects} <= {"busy_background", "no_donor"}


def test_an_image_the_donor_pass_drops_is_a_reject_with_its_reason(tiny, tmp_path):
    out = str(tmp_path / "caption")   # COCO images have no caption: nothing to prompt Grounded-SAM with
    run_build(load_config(V2, _sets(tiny, "masks.grounding.prompt_source=caption")), out, [], log=lambda *_: None)
    rejects = _rejects(out)
    assert len(rejects) == 7 and {(r["stage"], r["reason"]) for r in rejects} == {("propose", "no_prompts")}
    assert {r["detail"] for r in rejects} == {"in the donor pass (propose): prompt_source=caption"}


def _caption_table(folder: str) -> str:
    """The demo photos as a captioned URL table (LAION's columns; rows are paths relative to the table)."""
    import shutil
    import pyarrow as pa
    shutil.copytree(DEMO_DATA, folder)
    names = sorted(os.listdir(f"{folder}/images"))
    captions = ["a cat on a sofa", "a photo of a dog", "an apple and a cup", "a bowl on a table", "a dog and a cat",
                "an empty street", "a red apple"]
    pq.write_table(pa.table({"url": [f"images/{n}" for n in names], "caption": captions[: len(names)],
                             "license": ["cc0"] * len(names)}), f"{folder}/table.parquet")
    return f"{folder}/table.parquet"


def test_the_laion_recipe_finds_its_donors_from_the_captions_classes(tiny, tmp_path, capsys):
    table = _caption_table(str(tmp_path / "demo"))
    grounding = [s for s in tiny_overrides(tiny, masks="grounded_sam")
                 if s.startswith("masks.grounding.") and "prompt_source" not in s]
    sets = [f"source.annotations={table}", "source.shard_size=4", "image.size=64", "image.min_side=16",
            "filters.min_pixels=16", "masks.borrowed.max_objects=100", *grounding]
    args = ["check", "--config", V2_LAION, *[a for s in sets for a in ("--set", s)]]
    assert cli.main(args) == 0
    printed = capsys.readouterr().out
    assert "stages: donors (grounded_sam, a first pass over each shard) -> load -> propose" in printed
    assert "masks.grounding.model" in printed and "masks.grounding.sam_model" in printed
    assert cli.main([*args, "--set", "masks.grounding.model=/nowhere/gdino"]) == 2
    assert "/nowhere/gdino" in capsys.readouterr().out
    out = str(tmp_path / "out")
    report = run_build(load_config(V2_LAION, sets), out, [], log=lambda *_: None)
    samples = list(wds.WebDataset(sorted(glob.glob(f"{out}/shards/*.tar")), shardshuffle=False))
    rejects = _rejects(out)
    assert len(samples) + len(rejects) == report["images_in"] == 7 and samples
    captions = {e["key"]: e["meta"]["caption"] for p in glob.glob(f"{out}/plan/0*.json")
                for e in json.load(open(p))["images"]}
    for s in samples:
        meta = json.loads(s["json"])
        assert meta["mask_from_masker"] == "grounded_sam" and s["caption"].decode() == captions[s["__key__"]]
        assert meta["mask_from_class"] in captions[meta["mask_from_image"]]   # a class the donor's caption named
    # an image whose caption names no class has nothing to prompt Grounded-SAM with
    assert all((r["stage"], r["reason"]) in {("propose", "no_prompts"), ("propose", "no_donor")} for r in rejects)


def test_a_url_is_downloaded_once_though_the_donor_pass_reads_it_too(tiny, web, tmp_path, monkeypatch):
    """The first pass keeps each download in a part file of its shard; the second reads it; the shard's
    commit deletes it. Every URL is fetched once, and the output equals that of a build whose second pass
    downloads again."""
    import pyarrow as pa
    from web import NAMES
    captions = ["a cat on a sofa", "a photo of a dog", "an apple and a cup", "a bowl on a table", "a dog and a cat",
                "an empty street", "a red apple"]
    urls = [web.url(f"/img/{n}?run=v2-once") for n in NAMES]
    table = str(tmp_path / "urls.parquet")
    pq.write_table(pa.table({"url": urls, "caption": captions[: len(urls)]}), table)
    grounding = [s for s in tiny_overrides(tiny, masks="grounded_sam")
                 if s.startswith("masks.grounding.") and "prompt_source" not in s]
    sets = [f"source.annotations={table}", "source.shard_size=4", "image.size=64", "image.min_side=16",
            "filters.min_pixels=16", "masks.borrowed.max_objects=100", "image.fetch.allow_private_addresses=true",
            "image.fetch.retries=0", *grounding]
    out = str(tmp_path / "out")
    report = run_build(load_config(V2_LAION, sets), out, [], log=lambda *_: None)
    assert [web.state.hits[u[len(web.base):]] for u in urls] == [1] * len(urls)
    assert report["pairs"] > 0 and not glob.glob(f"{out}/shards/.*")     # no kept download left behind
    # the same build with a second pass that does not read the kept files: each URL is fetched again, and
    # the bytes are the same
    monkeypatch.setattr(build, "read_kept", lambda rec, out: rec)
    again = str(tmp_path / "again")
    run_build(load_config(V2_LAION, sets), again, [], log=lambda *_: None)
    assert [web.state.hits[u[len(web.base):]] for u in urls] == [3] * len(urls)
    assert _files(again) == _files(out) and not glob.glob(f"{again}/shards/.*")
