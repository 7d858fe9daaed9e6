"""What every config section is built from: the checks that word the errors, the rules a field carries, the
section base that applies them, and the model section base.

- ``ConfigError`` / ``_show`` (from configs/errors.py), ``_choice``, ``_range``, ``_placeholders``: each
  check raises a ConfigError naming the key and what is allowed;
- ``between``, ``one_of``, ``placeholders``: a field declared with its rule (``steps: int = between(1, 1000,
  default=10)``); the rule is the field's metadata, so the checks and the README's config reference
  (configs/reference.py) read the same declaration;
- ``Section``: the base of every section; its ``__post_init__`` checks every field's rule under the section's
  dotted key ``_KEY``, which ``name_sections`` sets from where the section sits in the root config. A section's
  own ``__post_init__`` (calling this one first) keeps only the rules across fields and the checks no rule
  says (odd numbers, hub ids, ...);
- ``is_local_model``: a model reference is a local path or a hub id;
- ``ModelConfig``: the keys every model section shares, and ``model_keys``, which finds the config keys naming
  a model by walking the dataclass tree.
"""
from __future__ import annotations

import dataclasses
import functools
import os
import re
import string
from dataclasses import dataclass
from types import UnionType
from typing import Any, ClassVar, Iterator, Union, get_args, get_origin, get_type_hints

from configs.errors import ConfigError, _show  # noqa: F401 - ConfigError: raised by every section


def _choice(key: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"{key}: {_show(value)} is not allowed; choose one of {', '.join(allowed)}")


def _range(key: str, value: float, lo: float, hi: float) -> None:
    if not lo <= value <= hi:
        raise ConfigError(f"{key}: {_show(value)} is out of range; allowed {lo} to {hi}")


def _placeholders(key: str, text: str, allowed: tuple[str, ...]) -> None:
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}
    except ValueError as e:
        raise ConfigError(f"{key}: {text!r} is not a valid template ({e})") from None
    bad = sorted(names - set(allowed))
    if bad:
        raise ConfigError(f"{key}: unknown placeholder {{{bad[0]}}}; allowed: "
                          f"{', '.join('{' + a + '}' for a in allowed) or 'none'}")


# ---- the rules a field carries (its metadata under RULE) -------------------------------------------------
RULE = "rule"


@dataclass(frozen=True)
class Between:
    """``lo <= value <= hi``; a bound given as a field name is that field's value (max_width >= min_width)."""
    lo: float | str
    hi: float | str

    def check(self, key: str, value: Any, section: Any) -> None:
        bound = [getattr(section, b) if isinstance(b, str) else b for b in (self.lo, self.hi)]
        _range(key, value, *bound)

    def allowed(self) -> str:
        return f"{self.lo} to {self.hi}"


@dataclass(frozen=True)
class OneOf:
    """The value, or with ``each`` every item of a list (named ``key[]``), is one of ``names``."""
    names: tuple[str, ...]
    each: bool = False

    def check(self, key: str, value: Any, section: Any) -> None:
        for item in value if self.each else (value,):
            _choice(f"{key}[]" if self.each else key, item, self.names)

    def allowed(self) -> str:
        return ", ".join(f"`{n}`" for n in self.names)


@dataclass(frozen=True)
class Placeholders:
    """The value is a ``str.format`` template using only the placeholders ``names``."""
    names: tuple[str, ...]

    def check(self, key: str, value: Any, section: Any) -> None:
        _placeholders(key, value, self.names)

    def allowed(self) -> str:
        return "placeholders " + ", ".join(f"`{{{n}}}`" for n in self.names)


def between(lo: float | str, hi: float | str, *, default: Any) -> Any:
    """A field whose value lies in ``[lo, hi]`` (a bound may name another field of the section)."""
    return dataclasses.field(default=default, metadata={RULE: Between(lo, hi)})


def one_of(*names: str, default: Any) -> Any:
    """A field holding one of ``names``; a list field (a tuple default) holds only items among them."""
    return dataclasses.field(default=default, metadata={RULE: OneOf(names, each=isinstance(default, tuple))})


def placeholders(*names: str, default: str) -> Any:
    """A template field that may use only the placeholders ``names``."""
    return dataclasses.field(default=default, metadata={RULE: Placeholders(names)})


def rule_of(f: dataclasses.Field) -> Between | OneOf | Placeholders | None:
    return f.metadata.get(RULE)


class Section:
    """The base of every config section: ``__post_init__`` checks each field's rule, naming ``_KEY.field``."""
    _KEY: ClassVar[str] = ""

    def __post_init__(self):
        check_fields(self, self._KEY)


def check_fields(section: Any, key: str) -> None:
    """Raise the ConfigError of the first field (in declaration order) that breaks its rule; null passes a
    field typed ``X | None`` (null switches it off)."""
    for f in dataclasses.fields(section):
        rule, value = rule_of(f), getattr(section, f.name)
        if rule is not None and not (value is None and f.name in nullable_fields(type(section))):
            rule.check(f"{key}.{f.name}" if key else f.name, value, section)


@functools.cache
def nullable_fields(cls: type) -> frozenset[str]:
    """The fields of ``cls`` whose type admits None."""
    hints = get_type_hints(cls)
    return frozenset(name for name, kind in hints.items()
                     if get_origin(kind) in (Union, UnionType) and type(None) in get_args(kind))


def name_sections(root: type, prefix: str = "") -> None:
    """Set ``_KEY`` of every section class under ``root`` to its dotted place in it (``masks.sam``), so that
    each section's messages name full keys and nothing types them. A class placed at two keys is refused: its
    messages could name only one."""
    hints = get_type_hints(root)
    for f in dataclasses.fields(root):
        kind = hints[f.name]
        if not (dataclasses.is_dataclass(kind) and issubclass(kind, Section)):
            continue
        key = f"{prefix}.{f.name}" if prefix else f.name
        if kind.__dict__.get("_KEY", key) != key:
            raise TypeError(f"{kind.__name__} sits at both {kind._KEY} and {key}; give each place its own class")
        kind._KEY = key
        name_sections(kind, key)


# ---- models: every model section shares ModelConfig's keys -----------------------------------------------
DEVICE = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")
DTYPES = ("auto", "float32", "float16", "bfloat16")
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


def is_local_model(ref: str) -> bool:
    """A model reference is a local path when it starts with /, ./, ../ or ~; otherwise a hub id."""
    return ref.startswith(("/", "./", "../", "~")) or os.path.isabs(ref)


@dataclass(frozen=True)
class ModelConfig(Section):
    """Where a model comes from and how it runs. ``_KEY`` is the section's place in the config (``model`` for a
    bare ModelConfig; name_sections sets it for each section of the config)."""
    _KEY: ClassVar[str] = "model"
    model: str = ""                 # hub id (owner/name) or local path (starts with /, ./, ../ or ~)
    device: str = "auto"            # auto (cuda when present, one GPU per worker process; else cpu), cpu, cuda, cuda:N
    dtype: str = one_of(*DTYPES, default="auto")   # auto: float16 on cuda, float32 on cpu
    batch_size: int = between(1, 4096, default=1)  # elements per RunInference batch; each runs in a call of its own
    share_across_processes: bool = False   # one copy per machine (Beam large_model), not one per process
    trust_remote_code: bool = False  # run code shipped with the model; only for models you trust

    def __post_init__(self):
        super().__post_init__()
        k = self._KEY
        if self.model and not is_local_model(self.model) and not HUB_ID.match(self.model):
            raise ConfigError(f"{k}.model: {self.model!r} is neither a local path (start it with /, ./, ../ "
                              f"or ~) nor a hub id (owner/name)")
        if not DEVICE.match(self.device):
            raise ConfigError(f"{k}.device: {self.device!r} is not allowed; choose auto, cpu, cuda or cuda:N")


def model_keys(root: type) -> tuple[str, ...]:
    """The dotted keys naming a model under the dataclass ``root``: every ``str`` field called ``model`` or
    ``*_model`` of every ModelConfig section, in field order, depth first (the order the sections are
    declared in; a subclass's own fields after ModelConfig's)."""
    return tuple(_model_keys(root, ""))


def _model_keys(cls: type, prefix: str) -> Iterator[str]:
    hints = get_type_hints(cls)
    for f in dataclasses.fields(cls):
        key = f"{prefix}.{f.name}" if prefix else f.name
        kind = hints[f.name]
        if dataclasses.is_dataclass(kind):
            yield from _model_keys(kind, key)
        elif issubclass(cls, ModelConfig) and kind is str and (f.name == "model" or f.name.endswith("_model")):
            yield key
