"""The run configuration: YAML -> frozen, self-checking dataclasses.

Every section checks itself in ``__post_init__`` and names the bad key (``filters.min_area_ratio``) and what
is allowed. Unknown keys are errors. Paths written in a YAML file are relative to that file's folder; paths
given with ``--set`` are relative to the current directory.
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Any, get_type_hints

import yaml


class ConfigError(ValueError):
    """A user error in the configuration: the message names the key and the fix."""


def _choice(key: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"{key}: {value!r} is not allowed; choose one of {', '.join(allowed)}")


def _range(key: str, value: float, lo: float, hi: float) -> None:
    if not lo <= value <= hi:
        raise ConfigError(f"{key}: {value!r} is out of range; allowed {lo} to {hi}")


@dataclass(frozen=True)
class SourceConfig:
    kind: str = "coco"              # see transforms/sources.py SOURCES
    annotations: str = ""           # COCO/LVIS instances json
    images: str = ""                # folder the json's file_name entries are relative to
    name: str = "coco"              # key prefix: letters and digits only
    shard_size: int = 100           # input images per shard (output shard k <- input shard k)
    limit: int = 0                  # first N images (by id) only; 0 = all
    licence: str = ""               # default licence text when the source names none

    def __post_init__(self):
        if not self.name.isalnum():
            raise ConfigError(f"source.name: {self.name!r} must be letters and digits only (it starts every key)")
        _range("source.shard_size", self.shard_size, 1, 1_000_000)
        _range("source.limit", self.limit, 0, 10**12)


@dataclass(frozen=True)
class ImageConfig:
    size: int = 512                 # output side (short side for short_side, both for short_side_crop)
    resize: str = "short_side_crop"  # PIPE's release: short side to size, centre crop to size x size
    min_side: int = 64              # reject smaller inputs
    max_pixels: int = 89_478_485    # reject larger inputs (decompression bombs); Pillow's own limit

    def __post_init__(self):
        _choice("image.resize", self.resize, ("short_side_crop", "short_side", "none"))
        _range("image.size", self.size, 16, 8192)
        _range("image.min_side", self.min_side, 1, 8192)
        _range("image.max_pixels", self.max_pixels, 1, 10**10)


@dataclass(frozen=True)
class MasksConfig:
    kind: str = "annotations"       # see transforms/propose.py MASKERS


@dataclass(frozen=True)
class FilterConfig:
    """Candidate filters; each drop is a reject with stage 'filter' and the rule's name as reason."""
    min_area_ratio: float = 0.01    # mask area / image area, after resize
    max_area_ratio: float = 0.5
    min_pixels: int = 256           # absolute mask area after resize
    max_border_touch: float = 0.3   # share of the mask's outline lying on the image frame
    min_component_share: float = 0.8  # largest connected component / mask area
    min_crop_kept: float = 0.9      # share of the object left after the centre crop
    max_objects: int = 5            # per image, largest first; 0 = no cap

    def __post_init__(self):
        for name in ("min_area_ratio", "max_area_ratio", "max_border_touch", "min_component_share",
                     "min_crop_kept"):
            _range(f"filters.{name}", getattr(self, name), 0.0, 1.0)
        if self.min_area_ratio > self.max_area_ratio:
            raise ConfigError("filters.min_area_ratio must not exceed filters.max_area_ratio")
        _range("filters.min_pixels", self.min_pixels, 1, 10**9)
        _range("filters.max_objects", self.max_objects, 0, 10**6)


@dataclass(frozen=True)
class RemovalConfig:
    kind: str = "opencv"            # see transforms/remove.py REMOVERS
    method: str = "telea"           # opencv: telea | ns
    radius: int = 5                 # opencv inpainting radius, px
    dilate: int = 15                # mask dilation kernel, px (odd)
    feather: int = 7                # blur of the blend edge, px (odd, < dilate)

    def __post_init__(self):
        _choice("removal.method", self.method, ("telea", "ns"))
        _range("removal.radius", self.radius, 1, 100)
        for name in ("dilate", "feather"):
            value = getattr(self, name)
            if value < 1 or value % 2 == 0:
                raise ConfigError(f"removal.{name}: {value!r} must be an odd number of pixels >= 1")
        if self.feather > self.dilate:
            raise ConfigError("removal.feather must not exceed removal.dilate (the edge must stay inside "
                              "the dilated mask)")


@dataclass(frozen=True)
class InstructionsConfig:
    kind: str = "template"          # see transforms/instruct.py INSTRUCTORS
    txt: str = "add"                # which instruction goes to KEY.txt

    def __post_init__(self):
        _choice("instructions.txt", self.txt, ("add", "add_location", "remove"))


@dataclass(frozen=True)
class OutputConfig:
    image_format: str = "jpg"       # jpg | png (lossless)
    jpeg_quality: int = 95

    def __post_init__(self):
        _choice("output.image_format", self.image_format, ("jpg", "png"))
        _range("output.jpeg_quality", self.jpeg_quality, 1, 100)


@dataclass(frozen=True)
class Config:
    source: SourceConfig = field(default_factory=SourceConfig)
    image: ImageConfig = field(default_factory=ImageConfig)
    masks: MasksConfig = field(default_factory=MasksConfig)
    filters: FilterConfig = field(default_factory=FilterConfig)
    removal: RemovalConfig = field(default_factory=RemovalConfig)
    instructions: InstructionsConfig = field(default_factory=InstructionsConfig)
    output: OutputConfig = field(default_factory=OutputConfig)


PATH_KEYS = ("source.annotations", "source.images")


def _build(cls, data: Any, prefix: str):
    if not isinstance(data, dict):
        raise ConfigError(f"{prefix or 'config'}: expected a mapping of keys, got {data!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = get_type_hints(cls)
    unknown = sorted(set(data) - set(fields))
    if unknown:
        where = f"{prefix}.{unknown[0]}" if prefix else unknown[0]
        raise ConfigError(f"unknown key {where!r}; allowed keys{' in ' + prefix if prefix else ''}: "
                          f"{', '.join(fields)}")
    kwargs = {}
    for name, value in data.items():
        key = f"{prefix}.{name}" if prefix else name
        kind = hints[name]
        if dataclasses.is_dataclass(kind):
            kwargs[name] = _build(kind, value, key)
        else:
            kwargs[name] = _coerce(key, value, kind)
    return cls(**kwargs)


def _coerce(key: str, value: Any, kind: type):
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if kind is str and value is None:
        return ""
    if kind is str and isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ConfigError(f"{key}: expected {kind.__name__}, got {value!r}")
    return value


def _merge(base: dict, key: str, value: Any) -> None:
    node = base
    parts = key.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"--set {key}: {part!r} is not a section")
    node[parts[-1]] = value


def _resolve_paths(data: dict, base_dir: str) -> None:
    for key in PATH_KEYS:
        section, name = key.split(".")
        value = data.get(section, {}).get(name) if isinstance(data.get(section), dict) else None
        if isinstance(value, str) and value and "://" not in value and not os.path.isabs(value):
            data[section][name] = os.path.normpath(os.path.join(base_dir, value))


def load_config(path: str | None, overrides: list[str] = ()) -> Config:
    """Load a YAML recipe and apply ``key.sub=value`` overrides (values parsed as YAML scalars)."""
    data: dict = {}
    if path:
        try:
            with open(path, encoding="utf-8") as f:
                data = yaml.safe_load(f) or {}
        except FileNotFoundError:
            raise ConfigError(f"config file not found: {path}") from None
        except yaml.YAMLError as e:
            raise ConfigError(f"config file {path} is not valid YAML: {e}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"config file {path}: expected a mapping at the top level")
        _resolve_paths(data, os.path.dirname(os.path.abspath(path)))
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set {item!r}: expected key.sub=value")
        value = yaml.safe_load(raw) if raw else ""
        if key in PATH_KEYS and isinstance(value, str) and value and "://" not in value:
            value = os.path.abspath(value)
        _merge(data, key.strip(), value)
    return _build(Config, data, "")


def to_dict(cfg: Config) -> dict:
    return dataclasses.asdict(cfg)


def dump_yaml(cfg: Config) -> str:
    return yaml.safe_dump(to_dict(cfg), sort_keys=False)
