"""transforms/core/tarfiles.py writes what webdataset's TarWriter writes, byte for byte, and reads shard
specs and member names by webdataset's rules; and a build process that runs no model never imports torch."""
from __future__ import annotations

import io
import os
import subprocess
import sys

import webdataset as wds
from webdataset.shardlists import expand_urls
from webdataset.tariterators import base_plus_ext as wds_base_plus_ext

from helpers import ROOT
from transforms.core.tarfiles import base_plus_ext, expand_specs, write_samples

SAMPLES = [("coco-000-1", {"source.jpg": b"\xff\xd8" + bytes(range(256)) * 40, "mask.png": b"\x89PNG",
                           "json": b'{"a": 1}'}),
           ("coco-000-2", {"txt": b"", "target.jpg": bytes(513)}),
           ("a/b.c-3", {"seg.png": b"x" * 10_000}),
           ("k-" + "long" * 40, {"json": b"{}"})]  # a name over 100 characters: a PAX header


def test_tar_bytes_are_webdatasets():
    ours, theirs = io.BytesIO(), io.BytesIO()
    write_samples(ours, SAMPLES)
    sink = wds.TarWriter(theirs, user="", group="", mode=0o644, encoder=False, mtime=0)
    for key, members in SAMPLES:
        sink.write({"__key__": key, **members})
    sink.close()
    assert ours.getvalue() == theirs.getvalue() and len(ours.getvalue()) > 20_000


def test_member_names_and_specs_follow_webdatasets_rules(monkeypatch):
    for name in ["a/b.seg.png", "k.jpg", "dir.x/k.txt", "noext", "a/.hidden", "x.y.z/"]:
        assert base_plus_ext(name) == wds_base_plus_ext(name), name
    monkeypatch.setenv("WDS_ROOT", "/data")
    for spec in ["s/{000..003}.tar", "${ROOT}/a-{1..2}.tar::b.tar", "plain.tar", "{a,b}/{0..1}.tar"]:
        assert expand_specs(spec) == expand_urls(spec), spec
    assert expand_specs("${ROOT}/{0..2}.tar") == ["/data/0.tar", "/data/1.tar", "/data/2.tar"]


def test_a_build_without_models_never_imports_torch():
    code = ("import sys, pipelines.run, pipelines.build, transforms.stages.write, transforms.sources;"
            "print(sorted(m for m in ('torch', 'webdataset') if m in sys.modules))")
    env = {**os.environ, "PYTHONPATH": ROOT}
    got = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert got.returncode == 0, got.stderr[-2000:]
    assert got.stdout.strip() == "[]"
