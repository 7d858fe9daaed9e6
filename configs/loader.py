"""Loading a tree of frozen dataclasses from a YAML file and ``--set key=value`` overrides, and back to YAML.

Generic: nothing here knows a section. The caller names the root dataclass and, in a ``RefKeys``, which dotted
keys hold file paths or model references (configs/schema/__init__.py ``load_config`` does, for ``Config``).
This module owns:

- reading the file: ``yaml.safe_load`` only (no tag runs code); a missing file, invalid YAML or a top level
  that is not a mapping is a ConfigError naming the file; ``base: other.yaml`` builds on another recipe
  (each section the file gives replaces that recipe's section);
- the overrides: each value is parsed as a YAML scalar (text that is not YAML is an error telling to quote
  it) and merged at its dotted key;
- relative references: paths in a YAML file are relative to that file's folder, paths given with ``--set``
  to the current directory; local model paths (./, ../, ~) likewise, hub ids stay as they are;
- building the tree: unknown keys, wrong types and list items missing a key are errors naming the key;
  values in messages go through ``_show``, so a YAML alias bomb stays a short message;
- ``to_dict`` / ``dump_yaml``: the inverse; an output folder stores ``dump_yaml`` as its config.yaml.
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from types import UnionType
from typing import Any, Callable, Mapping, Union, get_args, get_origin, get_type_hints

import yaml

from configs.errors import ConfigError, _show


@dataclass(frozen=True)
class RefKeys:
    """The dotted keys whose text names a file or a model; relative ones are resolved against a folder."""
    paths: tuple[str, ...] = ()                 # section.name keys holding a file or folder path (or a URL)
    path_words: Mapping[str, tuple[str, ...]] = field(default_factory=dict)   # values of a path key naming no file
    models: tuple[str, ...] = ()                # keys holding a model reference: a local path or a hub id
    is_local_model: Callable[[str], bool] = lambda ref: False   # which model references are paths


def load(cls: type, path: str | None, overrides: list[str] = (), refs: RefKeys = RefKeys()):
    """Load a YAML file (or nothing) into ``cls`` after the ``key.sub=value`` overrides (YAML scalars)."""
    data = _read_recipe(path, refs) if path else {}
    for item in overrides:
        key, value = _parse_set(item, refs)
        _merge(data, key, value)
    return _build(cls, data, "")


def _read_recipe(path: str, refs: RefKeys, within: tuple[str, ...] = ()) -> dict:
    """A YAML recipe with its relative references resolved; one naming ``base: other.yaml`` (relative to its
    folder) is that recipe with each top-level section this one gives replacing the base's section whole."""
    data = _read_yaml(path)
    base_dir = os.path.dirname(os.path.abspath(path))
    _resolve_paths(data, base_dir, refs)
    _resolve_model_paths(data, base_dir, refs)
    if "base" not in data:
        return data
    base = data.pop("base")
    if not isinstance(base, str) or not base.strip():
        raise ConfigError(f"{path}: base: {_show(base)} is not a file name; give the recipe this one builds on "
                          f"(e.g. base: pipe_coco.yaml)")
    base_path = os.path.normpath(os.path.join(base_dir, os.path.expanduser(base)))
    if base_path in within + (os.path.abspath(path),):
        raise ConfigError(f"{path}: base: {base} leads back to itself ({' -> '.join(within + (base_path,))})")
    return {**_read_recipe(base_path, refs, within + (os.path.abspath(path),)), **data}


def _read_yaml(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f) or {}
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"config file {path} is not valid YAML: {e}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path}: expected a mapping at the top level")
    return data


def _parse_set(item: str, refs: RefKeys) -> tuple[str, Any]:
    """``key.sub=value`` -> (key, value): the value parsed as YAML, a relative reference made absolute."""
    key, sep, raw = item.partition("=")
    if not sep or not key:
        raise ConfigError(f"--set {item!r}: expected key.sub=value")
    try:
        value = yaml.safe_load(raw) if raw else ""
    except yaml.YAMLError as e:
        raise ConfigError(f"--set {key}: the value {_show(raw)} is not a YAML value "
                          f"({str(e).splitlines()[0]}); quote it if it is text") from None
    if key in refs.paths and isinstance(value, str) and value and "://" not in value \
            and value not in refs.path_words.get(key, ()):
        value = os.path.abspath(value)
    if key in refs.models and isinstance(value, str) and value and refs.is_local_model(value):
        value = os.path.abspath(os.path.expanduser(value))
    return key.strip(), value


def _merge(base: dict, key: str, value: Any) -> None:
    node = base
    parts = key.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"--set {key}: {part!r} is not a section")
    node[parts[-1]] = value


def _resolve_paths(data: dict, base_dir: str, refs: RefKeys) -> None:
    """Relative paths (no URL, not a path word) at the ``section.name`` path keys of a YAML file, and at
    ``name`` in each mapping of a list the section holds (``source.mix[i].annotations``)."""
    for key in refs.paths:
        section, name = key.split(".")
        node = data.get(section)
        if not isinstance(node, dict):
            continue
        items = [v for lst in node.values() if isinstance(lst, list) for v in lst if isinstance(v, dict)]
        for holder in [node, *items]:
            value = holder.get(name)
            if value in refs.path_words.get(key, ()):
                continue
            if isinstance(value, str) and value and "://" not in value and not os.path.isabs(value):
                holder[name] = os.path.normpath(os.path.join(base_dir, value))


def _resolve_model_paths(data: dict, base_dir: str, refs: RefKeys) -> None:
    """Local model paths (./, ../, ~) in a YAML file are relative to that file; hub ids stay as they are."""
    for key in refs.models:
        *sections, name = key.split(".")
        node: Any = data
        for part in sections:
            node = node.get(part) if isinstance(node, dict) else None
        value = node.get(name) if isinstance(node, dict) else None
        if isinstance(value, str) and value and refs.is_local_model(value):
            node[name] = os.path.normpath(os.path.join(base_dir, os.path.expanduser(value)))


def _build(cls, data: Any, prefix: str):
    if not isinstance(data, dict):
        raise ConfigError(f"{prefix or 'config'}: expected a mapping of keys, got {_show(data)}")
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


def _coerce_tuple(key: str, value: Any, kind) -> tuple:
    """A YAML list -> tuple[X, ...]; items are checked like keys (``key[i]``), dataclass items built."""
    if not isinstance(value, (list, tuple)):
        raise ConfigError(f"{key}: expected a list, got {_show(value)}")
    item = get_args(kind)[0]
    if dataclasses.is_dataclass(item):
        return tuple(_build_item(item, v, f"{key}[{i}]") for i, v in enumerate(value))
    return tuple(_coerce(f"{key}[{i}]", v, item) for i, v in enumerate(value))


def _build_item(cls, data: Any, key: str):
    """A list item: every key of ``cls`` without a default must be given."""
    needed = [f.name for f in dataclasses.fields(cls)
              if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    missing = [name for name in needed if name not in (data if isinstance(data, dict) else {})]
    if isinstance(data, dict) and missing:
        raise ConfigError(f"{key}: missing key {missing[0]!r}; each item needs {', '.join(needed)}")
    return _build(cls, data, key)


def _coerce(key: str, value: Any, kind: type):
    if get_origin(kind) in (Union, UnionType):   # ``float | None``: null switches the setting off
        args = [a for a in get_args(kind) if a is not type(None)]
        if value is None and len(args) < len(get_args(kind)):
            return None
        try:
            return _coerce(key, value, args[0])
        except ConfigError:
            raise ConfigError(f"{key}: expected {args[0].__name__} or null (off), got {_show(value)}") from None
    if get_origin(kind) is tuple:
        return _coerce_tuple(key, value, kind)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if kind is str and value is None:
        return ""
    if kind is str and isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ConfigError(f"{key}: expected {kind.__name__}, got {_show(value)}")
    return value


def to_dict(cfg) -> dict:
    return dataclasses.asdict(cfg)


def dump_yaml(cfg) -> str:
    return yaml.safe_dump(to_dict(cfg), sort_keys=False)


def same_as_recorded(text: str, cfg) -> bool:
    """True when ``text`` (a config.yaml an earlier version of the tool recorded) is ``cfg`` once the keys
    added since take their defaults: an output built before an upgrade can still be resumed."""
    try:
        return dump_yaml(_build(type(cfg), yaml.safe_load(text), "")) == dump_yaml(cfg)
    except (ConfigError, yaml.YAMLError, TypeError, ValueError):
        return False
