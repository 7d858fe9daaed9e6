"""``base: other.yaml``: a recipe built on another, each section it gives replacing the base's whole."""
from __future__ import annotations

import dataclasses
import os

import pytest

from configs.schema import ConfigError, load_config, source_items
from helpers import ROOT

CONFIGS = os.path.join(ROOT, "configs")


def test_pipe_mix_is_pipe_coco_with_three_sources():
    mix, coco = (load_config(os.path.join(CONFIGS, f"{n}.yaml")) for n in ("pipe_mix", "pipe_coco"))
    assert dataclasses.replace(mix, source=coco.source) == coco
    names = [(key, s.kind, s.name) for key, s in source_items(mix.source)]
    assert names == [("source.mix[0]", "coco", "coco"), ("source.mix[1]", "lvis", "lvis"),
                     ("source.mix[2]", "openimages", "oi")]
    coco_images, lvis_images = (s.images for s in mix.source.mix[:2])
    assert coco_images == lvis_images == os.path.join(ROOT, "data", "coco", "train2017")   # one folder: loaded once
    assert mix.source.mix[2].masks == os.path.join(ROOT, "data", "openimages", "masks")   # resolved per item


def test_a_section_replaces_the_bases_whole_and_paths_resolve_where_written(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.yaml").write_text("source: {kind: coco, annotations: ann.json, images: im, name: a}\n"
                                             "removal: {kind: opencv, radius: 7}\n")
    (tmp_path / "b.yaml").write_text("base: sub/a.yaml\nremoval: {kind: opencv}\n")
    cfg = load_config(str(tmp_path / "b.yaml"))
    assert cfg.source.annotations == str(tmp_path / "sub" / "ann.json")   # relative to a.yaml
    assert cfg.removal.radius == load_config(None).removal.radius          # b's removal replaced a's whole


def test_a_base_that_leads_back_or_names_nothing_is_refused(tmp_path):
    (tmp_path / "a.yaml").write_text("base: b.yaml\n")
    (tmp_path / "b.yaml").write_text("base: a.yaml\n")
    with pytest.raises(ConfigError, match="leads back to itself"):
        load_config(str(tmp_path / "a.yaml"))
    (tmp_path / "c.yaml").write_text("base: 3\n")
    with pytest.raises(ConfigError, match="base: 3 is not a file name"):
        load_config(str(tmp_path / "c.yaml"))
    (tmp_path / "d.yaml").write_text("base: nope.yaml\n")
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(str(tmp_path / "d.yaml"))
