"""Maskers (``masks.kind``): the propose stage, one candidate per object of a loaded image.

One registry, pure and model maskers alike: a pure masker is ``fn(record, cfg) -> record | Reject | list``;
a model masker is a ``ModelStep`` (pure pre -> RunInference -> pure post). A new masker is one file here
(copy brush.py for a pure one, sam.py for a model one), one line below, and its config section.
The filter stage that follows every masker (area, border, connectivity, ...) is transforms/stages/filter.py.
"""
from __future__ import annotations

from transforms.maskers.annotations import propose_from_annotations
from transforms.maskers.borrowed import plan_donors, propose_borrowed
from transforms.maskers.brush import propose_brush
from transforms.maskers.diffedit import DIFFEDIT
from transforms.maskers.grounded_sam import GROUNDED_SAM
from transforms.maskers.sam import SAM

MASKERS = {
    "annotations": propose_from_annotations,
    "brush": propose_brush,
    "sam": SAM,
    "grounded_sam": GROUNDED_SAM,
    "borrowed": propose_borrowed,
    "diffedit": DIFFEDIT,
}

# Maskers that need to see the whole plan before any image is read (``fn(shards, cfg) -> shards``): run once,
# where the plan is made, so every worker reads the same choices from the plan files.
PLANNERS = {
    "borrowed": plan_donors,
}
