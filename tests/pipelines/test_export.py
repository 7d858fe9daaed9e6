"""PIPE-format export and dataset cards, read back with HF datasets exactly as PIPE's users do."""
from __future__ import annotations

import glob
import io
import json
import os
import random

import numpy as np
import pyarrow.parquet as pq
import pytest
import webdataset as wds
import yaml
from PIL import Image

from pipelines import cli
from pipelines.report.card import write_card
from pipelines.report.card_text import md
from pipelines.export import PIPE_COLUMNS, dataset_name, export_pipe
from transforms.core.geometry import LOCATIONS

datasets = pytest.importorskip("datasets")
GRID = {cell for row in LOCATIONS for cell in row}
TEST_FRACTION = 0.3  # the demo's image ids put one image (one pair) in the test split


@pytest.fixture(scope="module")
def exported(demo_build, tmp_path_factory):
    out, report = demo_build
    to = str(tmp_path_factory.mktemp("export") / "pipe")
    assert cli.main(["export", out, "--format", "pipe", "--to", to, "--with-masks",
                     "--test-fraction", str(TEST_FRACTION)]) == 0
    cache = str(tmp_path_factory.mktemp("hf"))
    pairs = datasets.load_dataset("parquet", data_dir=to, cache_dir=cache)
    masks = datasets.load_dataset("parquet", data_files={s: f"{to}/masks/mask{s}-*" for s in ("train", "test")},
                                  cache_dir=cache)
    return to, pairs, masks


def _tars(out: str) -> dict[str, dict]:
    return {s["__key__"]: s for s in wds.WebDataset(sorted(glob.glob(f"{out}/shards/*.tar")), shardshuffle=False)}


def _front_matter(path: str) -> tuple[dict, str]:
    text = open(path, encoding="utf-8").read()
    assert text.startswith("---\n")
    head, body = text[4:].split("\n---\n", 1)
    return yaml.safe_load(head), body


class PipeStyleDataset:
    """What code written for PIPE's release does: pick a random non-empty instruction among the three,
    append " at <object_location>" with probability 0.25, read the two images as arrays."""

    def __init__(self, dataset, split="train", location_probability=0.25):
        self.dataset, self.location_probability = dataset[split], location_probability

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, idx):
        instructions = [self.dataset["Instruction_VLM-LLM"][idx], self.dataset["Instruction_Class"][idx],
                        self.dataset["Instruction_Ref_Dataset"][idx]]
        instruction = random.choice([i for i in instructions if i])
        if random.random() < self.location_probability:
            instruction += f" at {self.dataset['object_location'][idx]}"
        source_img, target_img = self.dataset["source_img"][idx], self.dataset["target_img"][idx]
        return np.array(source_img), np.array(target_img), instruction


def test_columns_types_and_splits_are_pipes(exported, demo_build):
    _, pairs, _ = exported
    assert set(pairs) == {"train", "test"} and len(pairs["test"]) >= 1
    assert len(pairs["train"]) + len(pairs["test"]) == demo_build[1]["pairs"]
    for split in pairs.values():
        assert list(split.features) == list(PIPE_COLUMNS)
        assert all(isinstance(split.features[c], datasets.Image) for c in ("source_img", "target_img"))
        assert all(split.features[c] == datasets.Value("string") for c in PIPE_COLUMNS[2:])


def test_pipe_access_pattern_runs_over_every_row(exported):
    _, pairs, _ = exported
    random.seed(0)
    with_location = 0
    for split in pairs:
        data = PipeStyleDataset(pairs, split)
        for idx in range(len(data)):
            source, target, instruction = data[idx]
            assert source.shape == target.shape == (512, 512, 3) and source.dtype == np.uint8
            assert instruction.startswith("add ") and not (source == target).all()
            with_location += any(instruction.endswith(f" at {cell}") for cell in GRID)
    assert with_location >= 1


def test_rows_are_the_runs_pairs_with_their_ids_instructions_and_images(exported, demo_build):
    _, pairs, _ = exported
    sidecar = {(r["image_id"], r["ann_id"]): r for r in
               pq.read_table(sorted(glob.glob(f"{demo_build[0]}/shards/*.parquet"))).to_pylist()}
    tars = _tars(demo_build[0])
    seen = []
    for split in pairs.values():
        for row in split.cast_column("source_img", datasets.Image(decode=False)):
            pair = sidecar[(row["img_id"], row["ann_id"])]
            seen.append((row["img_id"], row["ann_id"]))
            assert row["Instruction_Class"] == pair["instruction_add"]
            assert row["Instruction_VLM-LLM"] == pair["instruction_vlm_llm"] == ""
            assert row["Instruction_Ref_Dataset"] == ""
            assert row["object_location"] == pair["location"] and row["object_location"] in GRID
            assert row["target_img_dataset"] == pair["dataset"] == "demo"
            assert row["source_img"]["bytes"] == tars[pair["key"]]["source.jpg"]
    assert sorted(seen) == sorted(sidecar)


def test_masks_join_back_to_the_pairs_in_the_same_split_and_test_images_stay_out_of_train(exported):
    _, pairs, masks = exported
    assert set(masks) == set(pairs) == {"train", "test"}
    for split in ("train", "test"):
        assert list(masks[split].features) == ["mask", "target_img_dataset", "img_id", "ann_id"]
        by_id = {(m["target_img_dataset"], m["img_id"], m["ann_id"]): m["mask"] for m in masks[split]}
        assert len(by_id) == len(masks[split]) == len(pairs[split])
        for r in pairs[split]:
            mask = np.asarray(by_id[(r["target_img_dataset"], r["img_id"], r["ann_id"])])
            assert mask.shape == np.asarray(r["target_img"]).shape[:2] and set(np.unique(mask)) == {0, 255}
    assert not set(pairs["train"]["img_id"]) & set(pairs["test"]["img_id"])


def test_export_card_parses_and_loads_by_folder(exported, demo_build, tmp_path):
    to, pairs, _ = exported
    head, body = _front_matter(os.path.join(to, "README.md"))
    infos = {i["config_name"]: i for i in head["dataset_info"]}
    splits = {s["name"]: s["num_examples"] for s in infos["default"]["splits"]}
    assert splits == {name: len(split) for name, split in pairs.items()}
    assert sum(splits.values()) == demo_build[1]["pairs"]
    assert {s["name"]: s["num_examples"] for s in infos["masks"]["splits"]} == splits
    assert [f["name"] for f in infos["default"]["features"]] == list(PIPE_COLUMNS)
    assert sorted(head["license"]) == ["cc0-1.0", "other"] and head["size_categories"] == ["n<1K"]
    by_folder = datasets.load_dataset(to, cache_dir=str(tmp_path))
    assert {k: len(v) for k, v in by_folder.items()} == splits
    assert "Instruction_Class" in body and "top left" in body


def test_run_card_counts_equal_the_report_and_load_the_shards(demo_build, copy_of, tmp_path):
    out = copy_of(demo_build[0])
    report = demo_build[1]
    head, body = _front_matter(write_card(out))
    assert head["dataset_info"]["splits"][0]["num_examples"] == report["pairs"]
    for r in report["stages"]:
        assert f"| {r['stage']} | {r['candidates_in']} | {r['candidates_kept']} |" in body
    assert f"| pairs | {report['pairs']} |" in body and f"| images in | {report['images_in']} |" in body
    config = yaml.safe_load(open(f"{out}/config.yaml"))
    assert f"| {md('max_area_ratio')} | {config['filters']['max_area_ratio']} |" in body  # escaped cells
    assert "| CC0 1.0 | https://creativecommons.org/publicdomain/zero/1.0/ | cc0-1.0 |" in body
    ds = datasets.load_dataset(out, cache_dir=str(tmp_path))["train"]
    tars = _tars(out)
    assert len(ds) == report["pairs"]
    assert all(row["json"] == json.loads(tars[row["__key__"]]["json"]) for row in ds)


def test_parquet_files_and_row_groups_are_bounded(demo_build, tmp_path):
    to = str(tmp_path / "small")
    done = export_pipe(demo_build[0], to, max_file_bytes=300_000, row_group=2)
    files = sorted(glob.glob(f"{to}/data/*.parquet"))
    assert len(files) == sum(len(s["files"]) for s in done["splits"].values()) >= 3
    biggest_row = 2 * 150_000  # two 512x512 JPEGs
    for path in files:
        meta = pq.ParquetFile(path).metadata
        assert all(meta.row_group(i).num_rows <= 2 for i in range(meta.num_row_groups))
        assert os.path.getsize(path) < 300_000 + biggest_row
    loaded = datasets.load_dataset("parquet", data_dir=to, cache_dir=str(tmp_path / "hf"))
    assert sum(map(len, loaded.values())) == demo_build[1]["pairs"] and not glob.glob(f"{to}/data/.tmp-*")
    assert Image.open(io.BytesIO(pq.read_table(files[0])["source_img"][0]["bytes"].as_py())).size == (512, 512)


def test_export_user_errors_exit_2_with_one_message(demo_build, tmp_path, capsys):
    assert cli.main(["export", demo_build[0], "--to", str(tmp_path / "x"), "--test-fraction", "1.5"]) == 2
    assert capsys.readouterr().err.startswith("inpaint-pairs: error: --test-fraction")
    assert cli.main(["export", demo_build[0], "--to", str(tmp_path / "x"), "--test-images", "10000"]) == 2
    assert "--test-images/--test-fraction: a test split of 10000 image(s) leaves no training" in capsys.readouterr().err
    assert cli.main(["export", demo_build[0], "--to", str(tmp_path / "x"), "--test-images", "1",
                     "--test-fraction", "0.1"]) == 2
    assert "give one of them, not both" in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "x")
    assert cli.main(["export", str(tmp_path), "--to", str(tmp_path / "y")]) == 2
    assert "not an inpaint-pairs output" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        cli.main(["export", demo_build[0], "--to", str(tmp_path / "z"), "--format", "brush"])
    assert e.value.code == 2 and "invalid choice" in capsys.readouterr().err


def test_export_refuses_a_folder_holding_an_export(exported, demo_build, capsys):
    assert cli.main(["export", demo_build[0], "--to", exported[0]]) == 2
    assert "already holds an export" in capsys.readouterr().err


def test_default_export_loads_with_pipes_readme_call(demo_build, tmp_path, capsys):
    """PIPE's README: load_dataset('parquet', data_files={'train': 'data/train-*', 'test': 'data/test-*'})."""
    to = str(tmp_path / "default")
    assert cli.main(["export", demo_build[0], "--to", to, "--with-masks"]) == 0
    assert "test split: 1 whole source image(s)" in capsys.readouterr().out  # 1% of the demo, at least one
    files = {s: f"{to}/data/{s}-*" for s in ("train", "test")}
    ds = datasets.load_dataset("parquet", data_files=files, cache_dir=str(tmp_path / "hf"))
    assert len(set(ds["test"]["img_id"])) == 1 and len(ds["train"]) + len(ds["test"]) == demo_build[1]["pairs"]
    assert set(ds["train"]["target_img_dataset"]) == {"demo"}  # a source the run named itself keeps its name
    by_card = datasets.load_dataset(to, "masks", cache_dir=str(tmp_path / "hf"))
    assert {s: sorted(v["img_id"]) for s, v in by_card.items()} == {s: sorted(v["img_id"]) for s, v in ds.items()}


def test_test_images_count_and_dataset_name(demo_build, tmp_path):
    to = str(tmp_path / "two")
    done = export_pipe(demo_build[0], to, test_count=2, name="COCO")
    test = pq.read_table(done["splits"]["test"]["files"] and glob.glob(f"{to}/data/test-*"))
    assert done["test_images"] == 2 and len(set(test["img_id"].to_pylist())) == 2
    assert set(test["target_img_dataset"].to_pylist()) == {"COCO"}
    none = export_pipe(demo_build[0], str(tmp_path / "none"), test_fraction=0.0)
    assert set(none["splits"]) == {"train"} and none["test_images"] == 0


@pytest.mark.parametrize("source, name", [({"kind": "coco"}, "COCO"), ({"kind": "lvis", "name": "lvis"}, "LVIS"),
                                          ({"kind": "openimages"}, "OpenImages"),
                                          ({"kind": "laion_parquet", "name": "laion"}, "LAION"),
                                          ({"kind": "url_table", "name": "laion"}, None),
                                          ({"kind": "coco", "name": "demo"}, None), ({"kind": "folder"}, None)])
def test_target_img_dataset_is_the_sources_proper_name(tmp_path, source, name):
    (tmp_path / "config.yaml").write_text(yaml.safe_dump({"source": source}))
    assert dataset_name(str(tmp_path), None) == name
    assert dataset_name(str(tmp_path), "Mine") == "Mine"
