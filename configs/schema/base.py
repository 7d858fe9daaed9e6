"""What every config section is built from: the checks that word the errors, and the model section base.

- ``ConfigError`` / ``_show`` (from configs/errors.py), ``_choice``, ``_range``, ``_placeholders``: each
  check raises a ConfigError naming the key and what is allowed;
- ``is_local_model``: a model reference is a local path or a hub id;
- ``ModelConfig``: the keys every model section shares (issue 3), and ``model_keys``, which finds the config
  keys naming a model by walking the dataclass tree.
"""
from __future__ import annotations

import dataclasses
import os
import re
import string
from dataclasses import dataclass
from typing import ClassVar, Iterator, get_type_hints

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


# ---- models (issue 3): every model section shares ModelConfig's keys -------------------------------------
DEVICE = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")
DTYPES = ("auto", "float32", "float16", "bfloat16")
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


def is_local_model(ref: str) -> bool:
    """A model reference is a local path when it starts with /, ./, ../ or ~; otherwise a hub id."""
    return ref.startswith(("/", "./", "../", "~")) or os.path.isabs(ref)


@dataclass(frozen=True)
class ModelConfig:
    """Where a model comes from and how it runs. ``_KEY`` is the section's place in the config."""
    _KEY: ClassVar[str] = "model"
    model: str = ""                 # hub id (owner/name) or local path (starts with /, ./, ../ or ~)
    device: str = "auto"            # auto (cuda when present: one GPU per worker process, else cpu) | cpu | cuda | cuda:N
    dtype: str = "auto"             # auto (float16 on cuda, float32 on cpu) | float32 | float16 | bfloat16
    batch_size: int = 1             # elements per RunInference batch; each still runs in a call of its own
    share_across_processes: bool = False   # one copy per machine (Beam large_model), not one per process
    trust_remote_code: bool = False  # run code shipped with the model; only for models you trust

    def __post_init__(self):
        k = self._KEY
        if self.model and not is_local_model(self.model) and not HUB_ID.match(self.model):
            raise ConfigError(f"{k}.model: {self.model!r} is neither a local path (start it with /, ./, ../ "
                              f"or ~) nor a hub id (owner/name)")
        if not DEVICE.match(self.device):
            raise ConfigError(f"{k}.device: {self.device!r} is not allowed; choose auto, cpu, cuda or cuda:N")
        _choice(f"{k}.dtype", self.dtype, DTYPES)
        _range(f"{k}.batch_size", self.batch_size, 1, 4096)


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
