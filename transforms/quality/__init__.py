"""Quality checks (``quality.*``): PIPE's filters around the remove stage, each its own funnel stage.

QUALITY holds every check; each declares the stage it runs after (``ModelStep.after``), and checks after the
same stage run in QUALITY's order (PIPE's). ``quality.stages`` picks which run (names checked when the chain
is built, pipelines/chain.py). A new check is one file here (copy dino.py), one line below, and its
thresholds in the quality config section.
"""
from __future__ import annotations

from configs.schema import QualityConfig
from transforms.core.stage import ModelStep
from transforms.quality.clip import CLIP_STAGES
from transforms.quality.dino import IMPORTANCE_DINO

QUALITY: dict[str, ModelStep] = {**CLIP_STAGES, "importance_dino": IMPORTANCE_DINO}


def quality_step(cfg: QualityConfig, stage: str) -> ModelStep | None:
    """The stage's ModelStep when ``quality`` runs it, else None (the chain leaves it out)."""
    return QUALITY[stage] if cfg.runs(stage) else None
