import os

import pytest

from configs.schema import Config, ConfigError, dump_yaml, load_config
from helpers import DEMO_CONFIG, DEMO_DATA


def test_demo_config_loads_with_paths_relative_to_the_file():
    cfg = load_config(DEMO_CONFIG)
    assert cfg.source.annotations == os.path.join(DEMO_DATA, "instances.json")
    assert cfg.source.images == os.path.join(DEMO_DATA, "images")
    assert cfg.removal.kind == "opencv" and cfg.masks.kind == "annotations"


def test_set_overrides_parse_yaml_scalars_and_resolve_paths_from_cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = load_config(DEMO_CONFIG, ["filters.max_objects=3", "filters.min_area_ratio=0.02",
                                    "source.annotations=my/instances.json", "output.image_format=png"])
    assert cfg.filters.max_objects == 3 and cfg.filters.min_area_ratio == 0.02
    assert cfg.source.annotations == str(tmp_path / "my" / "instances.json")
    assert cfg.output.image_format == "png"


@pytest.mark.parametrize("override, words", [
    ("filters.min_area_ration=0.1", ["filters.min_area_ration", "min_area_ratio"]),
    ("nonsense=1", ["nonsense", "source"]),
    ("removal.method=magic", ["removal.method", "telea", "ns"]),
    ("output.image_format=gif", ["output.image_format", "jpg", "png"]),
    ("filters.max_area_ratio=2", ["filters.max_area_ratio", "0.0 to 1.0"]),
    ("filters.max_objects=many", ["filters.max_objects", "int"]),
    ("removal.dilate=4", ["removal.dilate", "odd"]),
    ("source.name=a.b", ["source.name", "letters and digits"]),
    ("image.resize=stretch", ["image.resize", "short_side_crop"]),
])
def test_bad_keys_and_values_name_the_key_and_what_is_allowed(override, words):
    with pytest.raises(ConfigError) as e:
        load_config(DEMO_CONFIG, [override])
    for w in words:
        assert w in str(e.value)


def test_missing_or_invalid_config_file(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(str(tmp_path / "nope.yaml"))
    bad = tmp_path / "bad.yaml"
    bad.write_text("source: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(str(bad))


def test_yaml_is_safe_loaded(tmp_path):
    evil = tmp_path / "evil.yaml"
    evil.write_text("source: !!python/object/apply:os.system ['echo hacked']\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(str(evil))


def test_dump_round_trips():
    cfg = load_config(DEMO_CONFIG, ["filters.max_objects=2"])
    path_cfg = load_config(None, [])
    assert isinstance(path_cfg, Config)
    assert "max_objects: 2" in dump_yaml(cfg)


def test_min_sam_iou_bad_values_name_the_key():
    for bad in ("filters.min_sam_iou=.nan", "filters.min_sam_iou=high"):
        with pytest.raises(ConfigError, match="filters.min_sam_iou"):
            load_config(DEMO_CONFIG, [bad])
