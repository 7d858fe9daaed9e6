"""What goes into and comes out of the model handlers (the ground floor: numpy only, no torch).

Stage code builds the requests (``transforms/``), handlers answer them (``model_wrappers/``). Shapes: images
are HxWx3 uint8 RGB, masks HxW bool, boxes XYXY pixels in the image's own frame.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# The namespace of the Beam counters of model calls, <stage>/calls, <stage>/rows and <stage>/micros: counted
# by model_wrappers/base.py UnitHandler, read by pipelines/model_calls.py.
MODEL_NAMESPACE = "inpaint_pairs_models"


@dataclass(slots=True)
class SegmentRequest:
    """Find objects in ``image`` (HxWx3 uint8 RGB); ``labels`` are text prompts (Grounded-SAM only)."""
    image: np.ndarray
    labels: tuple[str, ...] = ()


@dataclass(slots=True)
class MaskProposal:
    """One object a masker found: HxW bool mask in the request's frame, its label ('' = none), scores."""
    mask: np.ndarray
    label: str = ""
    scores: dict[str, float] = field(default_factory=dict)
    box_xyxy: tuple[float, float, float, float] | None = None


@dataclass(slots=True)
class DiffEditRequest:
    """DiffEdit masks for ``image`` (HxWx3 uint8 RGB): one per (label, query prompt, reference prompt), all from
    the same ``seed``'s noise draws. The answer is one ``MaskProposal`` per label (HxW bool, maybe empty)."""
    image: np.ndarray
    labels: tuple[str, ...]
    queries: tuple[str, ...]
    references: tuple[str, ...]
    seed: int


@dataclass(slots=True)
class InpaintRequest:
    """Repaint ``mask`` (HxW bool) of ``image`` (HxWx3 uint8 RGB) once per seed."""
    image: np.ndarray
    mask: np.ndarray
    prompt: str
    negative_prompt: str
    seeds: tuple[int, ...]


@dataclass(slots=True)
class InpaintResult:
    """One HxWx3 uint8 RGB image per seed (same size as the request), and the safety flags if any;
    ``fitted``: the prompts cut to the text encoder's length on purpose ({'prompt': text as used, ...})."""
    images: list[np.ndarray]
    nsfw: list[bool]
    fitted: dict = field(default_factory=dict)


@dataclass(slots=True)
class DescribeRequest:
    """Describe ``image`` (HxWx3 uint8 RGB). Chat VLMs get ``prompt``; captioners continue ``prefix``."""
    image: np.ndarray
    prompt: str
    prefix: str = ""


@dataclass(slots=True)
class ChatRequest:
    """A conversation for a chat LLM: dicts with 'role' (system|user|assistant) and 'content'."""
    messages: list[dict[str, str]]


@dataclass(slots=True, frozen=True)
class InferenceFailed:
    """The prediction for one element whose inference raised while the rest of its batch succeeded."""
    detail: str


@dataclass(slots=True)
class EmbedRequest:
    """Embed every image (HxWx3 uint8 RGB, any size) and every text of one element (transforms/quality/)."""
    images: list[np.ndarray]
    texts: list[str]


@dataclass(slots=True)
class Embeddings:
    """Unit-length embeddings: ``images`` NxD float32 (request order), ``texts`` MxD float32 (CLIP; an
    image-only model such as DINOv2 leaves ``texts`` empty)."""
    images: np.ndarray
    texts: np.ndarray
