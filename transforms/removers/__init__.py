"""Removers (``removal.kind``): the remove stage fills the dilated object region; the blend stage
(transforms/stages/blend.py) then restores every pixel outside it, whichever remover ran.

One registry, pure and model removers alike (a ``ModelStep`` runs through RunInference). A new remover is
one file here (copy opencv.py for a pure one, diffusion.py for a model one), one line below, and its
config section.
"""
from __future__ import annotations

from transforms.removers.diffusion import DIFFUSION
from transforms.removers.opencv import remove_opencv

REMOVERS = {
    "opencv": remove_opencv,
    "diffusion": DIFFUSION,
}
