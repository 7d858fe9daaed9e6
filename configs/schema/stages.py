"""The stage sections: the settings of each step of a run, in pipeline order.

``masks`` (and ``masks.brush``), ``filters``, ``removal``, ``describe``, ``instructions``, ``quality`` (PIPE's
CLIP filters, issue 4) and ``output``. A section holding a model nests its ModelConfig section
(configs/schema/models.py); checks that span two keys of one section live here.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from configs.schema.base import ConfigError, _choice, _placeholders, _range, _show
from configs.schema.models import (ClipConfig, DiffEditConfig, DiffusionConfig, DinoConfig, GroundingConfig,
                                   LlmConfig, SamConfig, VlmConfig)


@dataclass(frozen=True)
class BrushConfig:
    """Random brush masks (BrushNet's recipe), seeded from the image key: strokes of 0-8 vertices."""
    count: int = 1                  # masks per image
    max_strokes: int = 4            # each mask has 1 to max_strokes strokes
    min_vertices: int = 0
    max_vertices: int = 8
    min_width: float = 0.25         # stroke width / image short side (BrushNet: 128 px at 512)
    max_width: float = 0.25
    radius: float = 0.125           # mean vertex step / image diagonal (BrushNet: 1/8)
    erode_dilate: float = 0.0       # probability of an opening (erode then dilate); BrushNet's trainer: 0.3
    invert: float = 0.0             # probability of inverting the mask; BrushNet's trainer: 0.5
    seed: int = 0                   # mixed into every key's seed

    def __post_init__(self):
        _range("masks.brush.count", self.count, 1, 64)
        _range("masks.brush.max_strokes", self.max_strokes, 1, 64)
        _range("masks.brush.min_vertices", self.min_vertices, 0, 64)
        _range("masks.brush.max_vertices", self.max_vertices, self.min_vertices, 64)
        _range("masks.brush.min_width", self.min_width, 0.001, 1.0)
        _range("masks.brush.max_width", self.max_width, self.min_width, 1.0)
        _range("masks.brush.radius", self.radius, 0.0, 1.0)
        _range("masks.brush.erode_dilate", self.erode_dilate, 0.0, 1.0)
        _range("masks.brush.invert", self.invert, 0.0, 1.0)
        _range("masks.brush.seed", self.seed, 0, 2**31 - 1)


DONORS = ("annotations", "grounded_sam", "sam")   # masks.borrowed.donors: the source's objects or a model's


@dataclass(frozen=True)
class BorrowConfig:
    """BrushData-v2 (BrushEdit): images with a clean background, each paired with a mask it does not own: an
    object shape from another image of the run (source: objects) or a random brush mask (source: brush).
    ``donors`` says who finds the objects, both the shapes lent and the ones the clean test counts: the
    source's annotations (chosen while planning, from the whole run) or a model masker run in a first pass
    over each shard (masks.grounding / masks.sam configure it; shapes lent within the shard)."""
    source: str = "objects"         # objects (another image's object shape, scaled and placed) | brush
    donors: str = "annotations"     # annotations | grounded_sam | sam: who finds the objects
    max_donors_per_image: int = 3   # a model's found shapes an image may lend, largest first (keeps records small)
    max_object_share: float = 0.1   # clean: the image's own objects cover less than this share of the frame
    max_objects: int = 0            # ... or it has at most this many objects (0: only the share counts)
    min_area_ratio: float = 0.05    # a borrowed shape is scaled to cover this to max_area_ratio of the frame
    max_area_ratio: float = 0.3
    seed: int = 0                   # mixed into every key's seed (donor choice, scale, place)

    def __post_init__(self):
        _choice("masks.borrowed.source", self.source, ("objects", "brush"))
        _choice("masks.borrowed.donors", self.donors, DONORS)
        _range("masks.borrowed.max_donors_per_image", self.max_donors_per_image, 1, 64)
        _range("masks.borrowed.max_object_share", self.max_object_share, 0.0, 1.0)
        _range("masks.borrowed.max_objects", self.max_objects, 0, 10**6)
        _range("masks.borrowed.min_area_ratio", self.min_area_ratio, 0.0001, 1.0)
        _range("masks.borrowed.max_area_ratio", self.max_area_ratio, self.min_area_ratio, 1.0)
        _range("masks.borrowed.seed", self.seed, 0, 2**31 - 1)


@dataclass(frozen=True)
class MasksConfig:
    kind: str = "annotations"       # see transforms/maskers/ MASKERS
    unlabelled_class: str = "object"  # class name of model masks that carry no label (SAM automatic)
    sam: SamConfig = field(default_factory=SamConfig)
    grounding: GroundingConfig = field(default_factory=GroundingConfig)
    brush: BrushConfig = field(default_factory=BrushConfig)
    borrowed: BorrowConfig = field(default_factory=BorrowConfig)
    diffedit: DiffEditConfig = field(default_factory=DiffEditConfig)

    def __post_init__(self):
        g = self.grounding
        grounding = self.kind == "grounded_sam" or (self.kind == "borrowed" and self.borrowed.donors == "grounded_sam")
        if grounding and g.prompt_source == "config" and not g.prompts:
            raise ConfigError("masks.grounding.prompts: empty; list class names (e.g. [cat, dog]) or set "
                              "masks.grounding.prompt_source to categories or caption")


@dataclass(frozen=True)
class FilterConfig:
    """Candidate filters; each drop is a reject with stage 'filter' and the rule's name as reason."""
    min_area_ratio: float = 0.01    # mask area / image area, after resize
    max_area_ratio: float = 0.5
    min_pixels: int = 256           # absolute mask area after resize
    max_border_touch: float = 0.3   # share of the mask's outline lying on the image frame
    min_component_share: float = 0.8  # largest connected component / mask area
    min_crop_kept: float = 0.9      # share of the object left after the centre crop
    max_objects: int = 5            # per image, largest first; 0 = no cap
    min_sam_iou: float | None = 0.0  # Grounded-SAM: SAM's predicted IoU (unbounded, may be < 0); null = off

    def __post_init__(self):
        for name in ("min_area_ratio", "max_area_ratio", "max_border_touch", "min_component_share",
                     "min_crop_kept"):
            _range(f"filters.{name}", getattr(self, name), 0.0, 1.0)
        if self.min_sam_iou is not None and not math.isfinite(self.min_sam_iou):
            raise ConfigError(f"filters.min_sam_iou: {self.min_sam_iou!r} must be a finite number (SAM's "
                              "predicted IoU is unbounded and can be negative) or null to switch the filter off")
        if self.min_area_ratio > self.max_area_ratio:
            raise ConfigError("filters.min_area_ratio must not exceed filters.max_area_ratio")
        _range("filters.min_pixels", self.min_pixels, 1, 10**9)
        _range("filters.max_objects", self.max_objects, 0, 10**6)


@dataclass(frozen=True)
class RemovalConfig:
    kind: str = "opencv"            # see transforms/removers/ REMOVERS
    method: str = "telea"           # opencv: telea | ns
    radius: int = 5                 # opencv inpainting radius, px
    dilate: int = 15                # mask dilation kernel, px (odd)
    feather: int = 7                # blur of the blend edge, px (odd, < dilate)
    work_side: int = 256            # opencv fills at most this many px across (0 = full size)
    diffusion: DiffusionConfig = field(default_factory=DiffusionConfig)

    def __post_init__(self):
        _choice("removal.method", self.method, ("telea", "ns"))
        _range("removal.radius", self.radius, 1, 100)
        _range("removal.work_side", self.work_side, 0, 100_000)
        for name in ("dilate", "feather"):
            value = getattr(self, name)
            if value < 1 or value % 2 == 0:
                raise ConfigError(f"removal.{name}: {_show(value)} must be an odd number of pixels >= 1")
        if self.feather > self.dilate:
            raise ConfigError("removal.feather must not exceed removal.dilate (the edge must stay inside "
                              "the dilated mask)")


@dataclass(frozen=True)
class DescribeConfig:
    kind: str = "none"              # none | vlm (see transforms/language/ DESCRIBERS)
    vlm: VlmConfig = field(default_factory=VlmConfig)


@dataclass(frozen=True)
class InstructionsConfig:
    kind: str = "template"          # see transforms/language/ INSTRUCTORS
    txt: str = "add"                # which instruction goes to KEY.txt
    llm: LlmConfig = field(default_factory=LlmConfig)

    def __post_init__(self):
        _choice("instructions.txt", self.txt, ("add", "add_location", "remove", "vlm_llm"))
        if self.txt == "vlm_llm" and self.kind != "llm":
            raise ConfigError("instructions.txt: vlm_llm needs instructions.kind llm")


# ---- PIPE's quality filters (issue 4): CLIP checks before and after removal ---------------------------------
QUALITY_STAGES = ("clip_prefilter", "consensus", "removal_score", "importance")   # PIPE's order
QUALITY_OPTIONAL = ("importance_dino",)   # run only when listed in quality.stages (not PIPE's; issue 4)


@dataclass(frozen=True)
class QualityConfig:
    """PIPE's CLIP filters (paper section 3, supplement E). PIPE tunes the thresholds on plots but does not
    publish the values chosen; ours (README, "PIPE's quality filters") and the reasons:

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
    kind: str = "none"              # none | clip
    stages: tuple[str, ...] = QUALITY_STAGES   # which of the filters run (kind clip); PIPE's order kept
    clip: ClipConfig = field(default_factory=ClipConfig)
    dino: DinoConfig = field(default_factory=DinoConfig)   # importance_dino only
    class_prompt: str = "a photo of a {class}"   # pre-filter text; placeholders {class}, {a_class}
    removal_prompt: str = "{class}"               # removal score text (the class name)
    min_class_similarity: float = 0.20
    crop_margin: float = 0.1        # pre-filter crop = object box grown by this share of its size per side
    max_consensus: float = 0.15
    max_removal_score: float = 0.28
    removal_margin: float = 0.05    # exception: kept when original score - score > margin
    context_dilate: int = 31        # px (odd): region view = dilated, blurred mask over the image's mean colour
    context_blur: int = 21          # px (odd)
    max_importance: float = 0.95
    max_dino_similarity: float = 0.95   # a judgement: DINOv2 source/target cosines run high; above = unimportant

    def __post_init__(self):
        _choice("quality.kind", self.kind, ("none", "clip"))
        for name in self.stages:
            _choice("quality.stages[]", name, QUALITY_STAGES + QUALITY_OPTIONAL)
        if len(set(self.stages)) != len(self.stages):
            raise ConfigError("quality.stages: a filter is listed twice")
        for name in ("class_prompt", "removal_prompt"):
            _placeholders(f"quality.{name}", getattr(self, name), ("class", "a_class"))
        for name in ("min_class_similarity", "max_removal_score", "max_importance", "max_dino_similarity"):
            _range(f"quality.{name}", getattr(self, name), -1.0, 1.0)
        _range("quality.max_consensus", self.max_consensus, 0.0, 2.0)
        _range("quality.removal_margin", self.removal_margin, 0.0, 2.0)
        _range("quality.crop_margin", self.crop_margin, 0.0, 2.0)
        for name in ("context_dilate", "context_blur"):
            value = getattr(self, name)
            if value < 1 or value % 2 == 0 or value > 1001:
                raise ConfigError(f"quality.{name}: {_show(value)} must be an odd number of pixels, 1 to 1001")

    def runs(self, stage: str) -> bool:
        """True when ``stage`` (a QUALITY_STAGES or QUALITY_OPTIONAL name) is part of the chain."""
        return self.kind != "none" and stage in self.stages


@dataclass(frozen=True)
class ExemplarConfig:
    """Paint by Example triplets (output.format paint_by_example): the irregular box mask and the reference's
    augmentation, all drawn from the object's key. Probabilities are per reference; PbE's list: flip 0.5,
    rotation up to 20 degrees, blur 0.3, elastic 0.3 (colour jitter and perspective added, as the paper lists)."""
    reference_size: int = 224       # the reference is squeezed to size x size (CLIP image encoder input)
    min_object_side: int = 16       # a box with a shorter side (output frame, px) is a reject: too small
    pad: int = 10                   # the reference crop is the box grown by up to pad px (PbE: 10)
    curve_points: int = 20          # points sampled on each edge's curve (PbE: 20)
    max_offset: int = 5             # each point moves by 1..max_offset px (PbE: 1-5)
    bulge: float = 0.1              # each edge bends by up to bulge x its length
    flip: float = 0.5
    max_rotation: float = 20.0      # degrees
    blur: float = 0.3
    elastic: float = 0.3
    perspective: float = 0.3
    colour_jitter: float = 0.8      # probability; strength below
    jitter_strength: float = 0.2    # brightness/contrast/saturation factors in 1 +- strength
    seed: int = 0                   # mixed into every key's seed

    def __post_init__(self):
        _range("output.pbe.reference_size", self.reference_size, 16, 1024)
        _range("output.pbe.min_object_side", self.min_object_side, 1, 4096)
        _range("output.pbe.pad", self.pad, 0, 512)
        _range("output.pbe.curve_points", self.curve_points, 2, 200)
        _range("output.pbe.max_offset", self.max_offset, 1, 64)
        _range("output.pbe.bulge", self.bulge, 0.0, 0.5)
        _range("output.pbe.max_rotation", self.max_rotation, 0.0, 180.0)
        _range("output.pbe.jitter_strength", self.jitter_strength, 0.0, 0.9)
        _range("output.pbe.seed", self.seed, 0, 2**31 - 1)
        for key in ("flip", "blur", "elastic", "perspective", "colour_jitter"):
            _range(f"output.pbe.{key}", getattr(self, key), 0.0, 1.0)


@dataclass(frozen=True)
class OutputConfig:
    format: str = "pipe"            # pipe (one pair per object) | brushdata (one image, all its masks as RLE)
    #                                 | paint_by_example (image, irregular box mask, augmented reference)
    image_format: str = "jpg"       # jpg | png (lossless)
    jpeg_quality: int = 95
    pbe: ExemplarConfig = field(default_factory=ExemplarConfig)

    def __post_init__(self):
        _choice("output.format", self.format, ("pipe", "brushdata", "paint_by_example"))   # formats FORMATS
        _choice("output.image_format", self.image_format, ("jpg", "png"))
        _range("output.jpeg_quality", self.jpeg_quality, 1, 100)
