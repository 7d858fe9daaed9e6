"""The registry entry of a stage that needs a model (kept apart from model_stage.py: importing Beam's
RunInference imports torch, which a CPU-only run should never pay for)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable


@dataclass(frozen=True)
class ModelStep:
    """pre(record, cfg) -> (record, request) | Reject | list; post(record, prediction, cfg) -> record | Reject
    | list; ``family`` is a model_wrappers.registry.HANDLERS key; ``section`` maps the stage's cfg to the
    model's config section. A pure stage's registry entry is just its function."""
    pre: Callable[[Any, Any], Any]
    post: Callable[[Any, Any, Any], Any]
    family: str
    section: Callable[[Any], Any]
