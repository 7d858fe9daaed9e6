"""``importance_dino`` (optional, only when listed in ``quality.stages``): PIPE's importance check with a
second image metric. The whole source and whole target are embedded by DINOv2 (model_wrappers/dino.py);
a cosine above ``quality.max_dino_similarity`` -> reject ``unimportant``; the score goes to
``Candidate.scores['dino_similarity']``.
"""
from __future__ import annotations

from operator import attrgetter

from configs.schema import QualityConfig
from model_wrappers.locate import record_models
from model_wrappers.types import Embeddings
from transforms.core.records import Candidate, Reject
from transforms.core.stage import ModelStep, Threshold
from transforms.quality.clip import importance_request, too_similar


def dino_importance_check(c: Candidate, e: Embeddings, cfg: QualityConfig) -> Candidate | Reject:
    record_models(c.meta, "importance_dino", cfg.dino.model)
    return too_similar(c, e, "importance_dino", DINO, cfg)


DINO = Threshold("dino_similarity", "quality.max_dino_similarity", "max", "unimportant")
IMPORTANCE_DINO = ModelStep(importance_request, dino_importance_check, "dino", attrgetter("dino"), (DINO,), (),
                            "quality.dino.model", after="remove")
