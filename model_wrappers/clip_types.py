"""What the CLIP scorer takes and returns (the ground floor: numpy only, no torch).

Quality stages (transforms/clip_filters.py) build ``ClipRequest``s; model_wrappers/clip.py answers them.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(slots=True)
class ClipRequest:
    """Embed every image (HxWx3 uint8 RGB, any size) and every text of one element."""
    images: list[np.ndarray]
    texts: list[str]


@dataclass(slots=True)
class ClipEmbeddings:
    """Unit-length CLIP embeddings: ``images`` NxD float32 (request order), ``texts`` MxD float32."""
    images: np.ndarray
    texts: np.ndarray
