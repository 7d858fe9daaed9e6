"""Language: the words of a pair. ``describe.kind`` names the describe stage (a VLM's description of the
removed object, or none); ``instructions.kind`` the instruct stage (templates, or an LLM rewrite).

One registry per role, pure and model entries alike (a ``ModelStep`` runs through RunInference; None
means the stage is left out). A new describer or instructor is one file here, one line below, and its
config section.
"""
from __future__ import annotations

from transforms.language.describe import VLM
from transforms.language.llm import LLM
from transforms.language.templates import template_instructions

DESCRIBERS = {
    "none": None,  # no stage: instructions use the class name
    "vlm": VLM,
}
INSTRUCTORS = {
    "template": template_instructions,
    "llm": LLM,
}
