"""The stage sections: the settings of each step of a run, in pipeline order.

``masks`` (and ``masks.brush``, ``masks.borrowed``), ``filters``, ``removal``, ``describe``, ``instructions``,
``quality`` (PIPE's CLIP filters) and ``output`` (and ``output.pbe``). A section holding a model nests its
ModelConfig section (configs/schema/models.py). Each field carries its rule (configs/schema/base.py); a
section's ``__post_init__`` holds the checks that span two keys or that no rule says.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from configs.schema.base import ConfigError, Section, _show, between, one_of, placeholders
from configs.schema.models import (ClipConfig, DiffEditConfig, DiffusionConfig, DinoConfig, GroundingConfig,
                                   LlmConfig, SamConfig, VlmConfig)


@dataclass(frozen=True)
class BrushConfig(Section):
    """Random brush masks (BrushNet's recipe), seeded from the image key: strokes of 0-8 vertices."""
    count: int = between(1, 64, default=1)         # masks per image
    max_strokes: int = between(1, 64, default=4)   # each mask has 1 to max_strokes strokes
    min_vertices: int = between(0, 64, default=0)  # vertices per stroke, at least
    max_vertices: int = between("min_vertices", 64, default=8)   # ... and at most
    min_width: float = between(0.001, 1.0, default=0.25)   # stroke width / image short side (BrushNet: 128 px at 512)
    max_width: float = between("min_width", 1.0, default=0.25)   # ... and at most
    radius: float = between(0.0, 1.0, default=0.125)   # mean vertex step / image diagonal (BrushNet: 1/8)
    erode_dilate: float = between(0.0, 1.0, default=0.0)   # probability of an opening (erode, dilate); BrushNet: 0.3
    invert: float = between(0.0, 1.0, default=0.0)   # probability of inverting the mask; BrushNet's trainer: 0.5
    seed: int = between(0, 2**31 - 1, default=0)     # mixed into every key's seed


DONORS = ("annotations", "grounded_sam", "sam")   # masks.borrowed.donors: the source's objects or a model's


@dataclass(frozen=True)
class BorrowConfig(Section):
    """BrushData-v2 (BrushEdit): images with a clean background, each paired with a mask it does not own: an
    object shape from another image of the run (source: objects) or a random brush mask (source: brush).
    ``donors`` says who finds the objects, both the shapes lent and the ones the clean test counts: the
    source's annotations (chosen while planning, from the whole run) or a model masker run in a first pass
    over each shard (masks.grounding / masks.sam configure it; shapes lent within the shard)."""
    source: str = one_of("objects", "brush",   # objects: another image's object shape, scaled and placed;
                         default="objects")   # brush: a random brush mask
    donors: str = one_of(*DONORS, default="annotations")   # who finds the objects
    max_donors_per_image: int = between(1, 64, default=3)   # a model's shapes an image may lend, largest first
    max_object_share: float = between(0.0, 1.0, default=0.1)   # clean: own objects cover less than this share
    max_objects: int = between(0, 10**6, default=0)   # ... or it has at most this many objects (0: only the share)
    min_area_ratio: float = between(0.0001, 1.0, default=0.05)   # a borrowed shape is scaled to cover at least
    max_area_ratio: float = between("min_area_ratio", 1.0, default=0.3)   # ... and at most this share of the frame
    seed: int = between(0, 2**31 - 1, default=0)   # mixed into every key's seed (donor choice, scale, place)


@dataclass(frozen=True)
class MasksConfig(Section):
    """Where the candidate masks come from: the source's annotations or a masker (and its settings below)."""
    kind: str = "annotations"       # a transforms/maskers/ MASKERS name: annotations, brush, sam, grounded_sam, ...
    unlabelled_class: str = "object"  # class name of model masks that carry no label (SAM automatic)
    sam: SamConfig = field(default_factory=SamConfig)
    grounding: GroundingConfig = field(default_factory=GroundingConfig)
    brush: BrushConfig = field(default_factory=BrushConfig)
    borrowed: BorrowConfig = field(default_factory=BorrowConfig)
    diffedit: DiffEditConfig = field(default_factory=DiffEditConfig)

    def __post_init__(self):
        super().__post_init__()
        g = self.grounding
        grounding = self.kind == "grounded_sam" or (self.kind == "borrowed" and self.borrowed.donors == "grounded_sam")
        if grounding and g.prompt_source == "config" and not g.prompts:
            raise ConfigError("masks.grounding.prompts: empty; list class names (e.g. [cat, dog]) or set "
                              "masks.grounding.prompt_source to categories or caption")


@dataclass(frozen=True)
class FilterConfig(Section):
    """Candidate filters; each drop is a reject with stage 'filter' and the rule's name as reason."""
    min_area_ratio: float = between(0.0, 1.0, default=0.01)   # mask area / image area, after resize
    max_area_ratio: float = between(0.0, 1.0, default=0.5)    # ... and at most (min_area_ratio <= max_area_ratio)
    min_pixels: int = between(1, 10**9, default=256)   # absolute mask area after resize
    max_border_touch: float = between(0.0, 1.0, default=0.3)   # share of the mask's outline lying on the image frame
    min_component_share: float = between(0.0, 1.0, default=0.8)   # largest connected component / mask area
    min_crop_kept: float = between(0.0, 1.0, default=0.9)   # share of the object left after the centre crop
    max_objects: int = between(0, 10**6, default=5)   # per image, largest first; 0 = no cap
    min_sam_iou: float | None = 0.0  # Grounded-SAM: SAM's predicted IoU, any finite number (may be < 0); null = off

    def __post_init__(self):
        super().__post_init__()
        k = self._KEY
        if self.min_sam_iou is not None and not math.isfinite(self.min_sam_iou):
            raise ConfigError(f"{k}.min_sam_iou: {self.min_sam_iou!r} must be a finite number (SAM's "
                              "predicted IoU is unbounded and can be negative) or null to switch the filter off")
        if self.min_area_ratio > self.max_area_ratio:
            raise ConfigError(f"{k}.min_area_ratio must not exceed {k}.max_area_ratio")


@dataclass(frozen=True)
class RemovalConfig(Section):
    """How the object is removed: a remover fills the dilated mask, blended back in with a feathered edge."""
    kind: str = "opencv"            # a transforms/removers/ REMOVERS name: opencv, diffusion, ...
    method: str = one_of("telea", "ns", default="telea")   # opencv: Telea or Navier-Stokes
    radius: int = between(1, 100, default=5)   # opencv inpainting radius, px
    dilate: int = 15                # mask dilation kernel, px (odd)
    feather: int = 7                # blur of the blend edge, px (odd, <= dilate: the edge stays in the dilated mask)
    work_side: int = between(0, 100_000, default=256)   # opencv fills at most this many px across (0 = full size)
    diffusion: DiffusionConfig = field(default_factory=DiffusionConfig)

    def __post_init__(self):
        super().__post_init__()
        k = self._KEY
        for name in ("dilate", "feather"):
            value = getattr(self, name)
            if value < 1 or value % 2 == 0:
                raise ConfigError(f"{k}.{name}: {_show(value)} must be an odd number of pixels >= 1")
        if self.feather > self.dilate:
            raise ConfigError(f"{k}.feather must not exceed {k}.dilate (the edge must stay inside "
                              "the dilated mask)")


@dataclass(frozen=True)
class DescribeConfig(Section):
    """An optional description of each object (PIPE: a VLM on the object-only view)."""
    kind: str = "none"              # a transforms/language/ DESCRIBERS name: none, vlm
    vlm: VlmConfig = field(default_factory=VlmConfig)


@dataclass(frozen=True)
class InstructionsConfig(Section):
    """The editing instructions written for each pair: templates, or an LLM rewrite of the description."""
    kind: str = "template"          # a transforms/language/ INSTRUCTORS name: template, llm
    txt: str = one_of("add", "add_location", "remove", "vlm_llm", default="add")   # which instruction goes to KEY.txt
    llm: LlmConfig = field(default_factory=LlmConfig)

    def __post_init__(self):
        super().__post_init__()
        if self.txt == "vlm_llm" and self.kind != "llm":
            raise ConfigError(f"{self._KEY}.txt: vlm_llm needs {self._KEY}.kind llm")


# ---- PIPE's quality filters: CLIP checks before and after removal -------------------------------------------
@dataclass(frozen=True)
class QualityConfig(Section):
    """PIPE's CLIP filters (paper section 3, supplement E). PIPE tunes the thresholds on plots but does not
    publish the values chosen; ours (docs/RECIPES.md, "PIPE's quality filters") and the reasons:

    - ``max_consensus``: PIPE's plot spans 0.110-0.200. The score is the total std of the N candidates'
      unit CLIP embeddings, sqrt((N-1)/N * (1 - mean pairwise cosine)); 0.15, the middle of the span, means
      a mean pairwise cosine of 0.966 at N=3: candidates that agree, without demanding identical fills.
    - ``max_removal_score``: PIPE's plot spans 0.260-0.295 (CLIP cosine of the region vs the class). 0.28,
      just above the middle: a matching ViT-L/14 image-text cosine is about 0.25-0.32, so the object must
      read clearly to drop the pair; ``removal_margin`` 0.05 keeps a pair whose score fell that much from
      the original's (a class-like background, e.g. grass where a sheep stood, still scores high).
    - ``min_class_similarity`` 0.20: below it a crop rarely shows its labelled class (unrelated pairs score
      0.10-0.18 on ViT-L/14); it removes wrong labels, heavy occlusion and blur, not merely odd views.
    - ``max_importance`` 0.95: whole-image cosine above it means the removal barely changed the picture.
    - ``max_dino_similarity`` 0.95 (optional ``importance_dino`` stage, a judgement, not tuned): DINOv2's
      cosine between an image and itself with one object removed is typically high; above 0.95 the object
      barely registered in the picture's structure.
    """
    kind: str = one_of("none", "clip", default="none")   # clip: run the filters of stages below
    stages: tuple[str, ...] = ("clip_prefilter", "consensus", "removal_score",   # transforms/quality/ QUALITY
                               "importance")   # names: which checks run, each once (default: PIPE's four)
    clip: ClipConfig = field(default_factory=ClipConfig)
    dino: DinoConfig = field(default_factory=DinoConfig)   # importance_dino only
    class_prompt: str = placeholders("class", "a_class", default="a photo of a {class}")   # pre-filter text
    removal_prompt: str = placeholders("class", "a_class", default="{class}")   # removal score text (the class name)
    min_class_similarity: float = between(-1.0, 1.0, default=0.20)   # pre-filter: crop vs class prompt cosine
    crop_margin: float = between(0.0, 2.0, default=0.1)   # pre-filter crop = object box grown by this share per side
    max_consensus: float = between(0.0, 2.0, default=0.15)   # std of the candidates' CLIP embeddings
    max_removal_score: float = between(-1.0, 1.0, default=0.28)   # region vs class cosine after removal
    removal_margin: float = between(0.0, 2.0, default=0.05)   # exception: kept when original score - score > margin
    context_dilate: int = 31        # px (odd, up to 1001): region view = dilated, blurred mask over the mean colour
    context_blur: int = 21          # px (odd, up to 1001)
    max_importance: float = between(-1.0, 1.0, default=0.95)   # whole-image cosine, source vs target
    max_dino_similarity: float = between(-1.0, 1.0, default=0.95)   # a judgement: DINOv2 cosines run high

    def __post_init__(self):
        super().__post_init__()
        k = self._KEY
        if len(set(self.stages)) != len(self.stages):
            raise ConfigError(f"{k}.stages: a filter is listed twice")
        for name in ("context_dilate", "context_blur"):
            value = getattr(self, name)
            if value < 1 or value % 2 == 0 or value > 1001:
                raise ConfigError(f"{k}.{name}: {_show(value)} must be an odd number of pixels, 1 to 1001")

    def runs(self, stage: str) -> bool:
        """True when the check ``stage`` (a transforms/quality/ QUALITY name) is part of the chain."""
        return self.kind != "none" and stage in self.stages


@dataclass(frozen=True)
class ExemplarConfig(Section):
    """Paint by Example triplets (output.format paint_by_example): the irregular box mask and the reference's
    augmentation, all drawn from the object's key. Probabilities are per reference; PbE's list: flip 0.5,
    rotation up to 20 degrees, blur 0.3, elastic 0.3 (colour jitter and perspective added, as the paper lists)."""
    reference_size: int = between(16, 1024, default=224)   # the reference is squeezed to size x size (CLIP input)
    min_object_side: int = between(1, 4096, default=16)   # a box with a shorter side (output px) is a reject
    pad: int = between(0, 512, default=10)   # the reference crop is the box grown by up to pad px (PbE: 10)
    curve_points: int = between(2, 200, default=20)   # points sampled on each edge's curve (PbE: 20)
    max_offset: int = between(1, 64, default=5)   # each point moves by 1..max_offset px (PbE: 1-5)
    bulge: float = between(0.0, 0.5, default=0.1)   # each edge bends by up to bulge x its length
    flip: float = between(0.0, 1.0, default=0.5)    # probability of a horizontal flip
    max_rotation: float = between(0.0, 180.0, default=20.0)   # degrees
    blur: float = between(0.0, 1.0, default=0.3)    # probability of a blur
    elastic: float = between(0.0, 1.0, default=0.3)   # probability of an elastic warp
    perspective: float = between(0.0, 1.0, default=0.3)   # probability of a perspective warp
    colour_jitter: float = between(0.0, 1.0, default=0.8)   # probability; strength below
    jitter_strength: float = between(0.0, 0.9, default=0.2)   # brightness/contrast/saturation in 1 +- strength
    seed: int = between(0, 2**31 - 1, default=0)   # mixed into every key's seed


@dataclass(frozen=True)
class OutputConfig(Section):
    """What the shards hold and how their images are encoded. Formats: pipe (one pair per object), brushdata
    (one sample per image, all its masks as RLE), paint_by_example (image, box mask, reference)."""
    format: str = "pipe"   # a transforms/formats/ FORMATS name: pipe, brushdata, paint_by_example, ...
    image_format: str = one_of("jpg", "png", default="jpg")   # png: lossless
    jpeg_quality: int = between(1, 100, default=95)   # jpg: the encoder's quality
    pbe: ExemplarConfig = field(default_factory=ExemplarConfig)
