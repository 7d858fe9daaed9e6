"""Glob characters, spaces and non-ASCII in the output path: a build into ``out [v2]*?ü``
counts its shards, and report, export and the loader find them (the folder is escaped before matching)."""
from __future__ import annotations

import os

import pyarrow.parquet as pq

from faults.kit import CocoSet, assert_accounting, build, encode, samples, scene
from pipelines.cli import main
from pipelines.loader import shard_urls
from transforms.core import fileio


def test_glob_escape_makes_a_path_match_itself(tmp_path):
    odd = tmp_path / "a[1]*?b"
    odd.mkdir()
    (odd / "x.json").write_text("{}")
    (tmp_path / "a1xyb").mkdir()              # what the unescaped pattern would also match
    (tmp_path / "a1xyb" / "y.json").write_text("{}")
    assert fileio.list_names(str(odd), "*.json") == ["x.json"]


def test_a_build_into_a_folder_with_glob_characters_counts_and_exports_its_shards(tmp_path, capsys):
    coco = CocoSet(tmp_path / "in")
    for _ in range(10):
        coco.add(encode(scene()))
    out = str(tmp_path / "out [v2]*?ü")
    report = build(coco, out)
    assert report["shards_planned"] == 2 and report["shards_done"] == 2
    assert_accounting(out, report)
    assert "| shards finished | 2/2 |" in open(os.path.join(out, "README.md"), encoding="utf-8").read()
    assert len(shard_urls(out)) == 2
    assert main(["report", out]) == 0
    to = str(tmp_path / "exp [1]")
    assert main(["export", out, "--to", to]) == 0
    rows = sum(pq.read_table(os.path.join(root, f)).num_rows for root, _, files in os.walk(to)
               for f in files if f.endswith(".parquet"))
    assert rows == report["pairs"] == len(samples(out)) == 10
