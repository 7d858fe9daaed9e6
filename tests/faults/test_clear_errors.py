"""User errors the CLI tests (tests/pipelines/test_cli.py) do not cover yet: each stops before any work
with one message on stderr, exit 2 and no traceback. Run in-process through pipelines.cli.main."""
from __future__ import annotations

import glob
import json
import os

import pytest
import yaml

from helpers import DEMO_CONFIG
from pipelines.cli import main


def _cli(capsys, tmp_path, *args: str, config: str = DEMO_CONFIG) -> str:
    """Run ``build`` in-process; assert exit 2, one 'inpaint-pairs: error:' message, nothing built."""
    out = tmp_path / "out"
    code = main(["build", "--config", config, "--output", str(out), *args])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("inpaint-pairs: error:") and "Traceback" not in err and len(err) < 2000, err[:3000]
    assert not (out / "shards").exists() or not os.listdir(out / "shards")
    return err


def _file(tmp_path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize("text, words", [
    ("source: [unclosed", ["not valid YAML"]),
    ("- a\n- b\n", ["expected a mapping at the top level"]),
    ("source:\n  name: !!python/object/apply:os.getcwd []\n", ["not valid YAML"]),
    ("image:\n  size: big\n", ["image.size", "expected int"]),
    ("image:\n  size: 5\n", ["image.size", "out of range"]),
    ("imagez:\n  size: 128\n", ["unknown key 'imagez'"]),
])
def test_a_bad_config_file(capsys, tmp_path, text, words):
    err = _cli(capsys, tmp_path, config=_file(tmp_path, "bad.yaml", text))
    assert all(w in err for w in words), err


def test_a_missing_config_file(capsys, tmp_path):
    assert "config file not found" in _cli(capsys, tmp_path, config=str(tmp_path / "nope.yaml"))


@pytest.mark.parametrize("override, words", [
    ("nokey", ["expected key.sub=value"]),
    ("source.kind=parquet_of_dreams", ["source.kind"]),
    ("source.shard_size=0", ["source.shard_size", "out of range"]),
    ("image.size.x=3", ["not a section"]),
])
def test_a_bad_set_override(capsys, tmp_path, override, words):
    err = _cli(capsys, tmp_path, "--set", override)
    assert all(w in err for w in words), err


@pytest.mark.parametrize("override", ["filters.min_pixels=[1", "source.name=!!python/object/apply:os.getcwd []"])
def test_a_set_value_that_is_not_yaml(capsys, tmp_path, override):
    assert "--set" in _cli(capsys, tmp_path, "--set", override)


@pytest.mark.parametrize("text, words", [
    ("{not json", ["is not a JSON file"]),
    ('{"images": [], "annotations": []}', ["lacks the COCO list(s) categories"]),
    ('{"images": [], "annotations": [], "categories": []}', ["no images found"]),
    ("[" * 50000 + "]" * 50000, ["is not a JSON file"]),
])
def test_an_annotation_file_that_cannot_be_planned(capsys, tmp_path, text, words):
    path = _file(tmp_path, "instances.json", text)
    err = _cli(capsys, tmp_path, "--set", f"source.annotations={path}", "--set", f"source.images={tmp_path}")
    assert all(w in err for w in words), err


def test_annotations_given_as_a_folder(capsys, tmp_path):
    err = _cli(capsys, tmp_path, "--set", f"source.annotations={tmp_path}")
    assert "source.annotations" in err and "not found" in err


def test_an_output_that_is_a_file(capsys, tmp_path):
    blocker = _file(tmp_path, "file", "x")
    code = main(["build", "--config", DEMO_CONFIG, "--output", blocker])
    err = capsys.readouterr().err
    assert code == 2 and "not writable" in err and "Traceback" not in err
    assert open(blocker).read() == "x"


def test_an_output_made_with_another_config(capsys, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "config.yaml").write_text("source: {name: other}\n")
    code = main(["build", "--config", DEMO_CONFIG, "--output", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and "different config" in err and not glob.glob(f"{out}/shards/*")


def test_a_missing_model_file(capsys, tmp_path):
    err = _cli(capsys, tmp_path, "--set", "masks.kind=sam", "--set", "masks.sam.model=/nope/sam.pth")
    assert "masks.sam.model" in err and "/nope/sam.pth" in err


ALIAS_BOMB = "source:\n  name:\n    - &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"    - &{b} [{', '.join(['*' + a] * 10)}]\n" for a, b in zip("abcd", "bcde"))


def test_a_yaml_alias_bomb_gives_one_short_message(capsys, tmp_path):
    assert "source.name" in _cli(capsys, tmp_path, config=_file(tmp_path, "lol.yaml", ALIAS_BOMB))


def test_the_annotation_error_names_the_file_once(capsys, tmp_path):
    path = _file(tmp_path, "instances.json", json.dumps({"images": {}}))
    err = _cli(capsys, tmp_path, "--set", f"source.annotations={path}", "--set", f"source.images={tmp_path}")
    assert err.count(path) == 1 and err.count("\n") == 1
