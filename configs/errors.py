"""The configuration's error type and the bounded repr every configuration message uses.

Its own module, below both the generic loader (configs/loader.py) and the sections (configs/schema/), so
that neither has to import the other to raise or word an error.
"""
from __future__ import annotations

import reprlib
from typing import Any


class ConfigError(ValueError):
    """A user error in the configuration: the message names the key and the fix."""


def _show(value: Any) -> str:
    """A short repr for messages (a YAML alias bomb must not become a message of megabytes)."""
    text = _REPR.repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxlist, _REPR.maxdict, _REPR.maxstring, _REPR.maxother = 2, 4, 4, 80, 80
