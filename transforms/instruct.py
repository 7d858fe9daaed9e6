"""Instruct stage: instructions for the pair, and the object's place on a 3x3 grid.

The grid vocabulary (LOCATIONS) is the one every output uses: metadata, the parquet sidecar, exports.
An "add" instruction turns the source (object removed) into the target (original); "remove" the reverse.
"""
from __future__ import annotations

import numpy as np

from configs.schema import InstructionsConfig
from transforms.record import Candidate

STAGE = "instruct"
LOCATIONS = (
    ("top left", "top center", "top right"),
    ("middle left", "center", "middle right"),
    ("bottom left", "bottom center", "bottom right"),
)


def location(mask: np.ndarray) -> str:
    """The grid cell holding the centroid of an HxW bool mask."""
    ys, xs = np.nonzero(mask)
    h, w = mask.shape
    row = min(2, int(3 * ys.mean() / h))
    col = min(2, int(3 * xs.mean() / w))
    return LOCATIONS[row][col]


def with_article(noun: str) -> str:
    return f"{'an' if noun[:1].lower() in 'aeiou' else 'a'} {noun}"


def template_instructions(c: Candidate, cfg: InstructionsConfig) -> Candidate:
    """PIPE's class instruction ("add a <class>"), its location variant, and "remove the <class>"."""
    name = c.class_name.replace("_", " ").strip()
    loc = location(c.mask)
    c.meta["location"] = loc
    c.instructions.update({
        "add": f"add {with_article(name)}",
        "add_location": f"add {with_article(name)} at the {loc}",
        "remove": f"remove the {name}",
    })
    c.meta["instructions_kind"] = "template"
    return c


INSTRUCTORS = {"template": template_instructions}
