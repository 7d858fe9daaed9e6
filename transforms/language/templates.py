"""The ``template`` instructor: PIPE's class instructions, and the object's place on the 3x3 grid
(transforms/core/geometry.py LOCATIONS). An "add" instruction turns the source (object removed) into the target (original); "remove" the reverse.
"""
from __future__ import annotations

from configs.schema import InstructionsConfig
from transforms.core.geometry import location
from transforms.core.records import Candidate
from transforms.core.text import with_article

STAGE = "instruct"


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

