"""The run configuration: YAML -> frozen, self-checking dataclasses.

Every section checks itself in ``__post_init__`` and names the bad key (``filters.min_area_ratio``) and what
is allowed. Unknown keys are errors. Paths written in a YAML file are relative to that file's folder; paths
given with ``--set`` are relative to the current directory.
"""
from __future__ import annotations

import dataclasses
import os
import reprlib
import re
import string
from dataclasses import dataclass, field
from typing import Any, ClassVar, get_args, get_origin, get_type_hints

import yaml


class ConfigError(ValueError):
    """A user error in the configuration: the message names the key and the fix."""


def _show(value: Any) -> str:
    """A short repr for messages (a YAML alias bomb must not become a message of megabytes)."""
    text = _REPR.repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxlist, _REPR.maxdict, _REPR.maxstring, _REPR.maxother = 2, 4, 4, 80, 80


def _choice(key: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"{key}: {_show(value)} is not allowed; choose one of {', '.join(allowed)}")


def _range(key: str, value: float, lo: float, hi: float) -> None:
    if not lo <= value <= hi:
        raise ConfigError(f"{key}: {_show(value)} is out of range; allowed {lo} to {hi}")


@dataclass(frozen=True)
class SourceConfig:
    kind: str = "coco"              # see transforms/sources.py SOURCES
    annotations: str = ""           # COCO/LVIS instances json
    images: str = ""                # folder the json's file_name entries are relative to
    name: str = "coco"              # key prefix: letters and digits only
    shard_size: int = 100           # input images per shard (output shard k <- input shard k)
    limit: int = 0                  # first N images (by id) only; 0 = all
    licence: str = ""               # default licence text when the source names none
    masks: str = ""                 # openimages: folder of the per-mask PNGs (the CSV's MaskPath is relative to it)
    classes: str = ""               # openimages: class-descriptions CSV (/m/ label id -> readable name)
    url_column: str = "url"         # laion_parquet: column names (img2dataset's by default; case-insensitive)
    caption_column: str = "caption"
    width_column: str = "width"
    height_column: str = "height"
    licence_column: str = "license"
    vocabulary: str = "lvis"        # captions -> objects (Grounded-SAM prompts): lvis (shipped list) | none | a file
    max_caption_classes: int = 8    # classes kept per caption, in caption order

    def __post_init__(self):
        if not self.name.isalnum():
            raise ConfigError(f"source.name: {self.name!r} must be letters and digits only (it starts every key)")
        _range("source.shard_size", self.shard_size, 1, 1_000_000)
        _range("source.limit", self.limit, 0, 10**12)
        if not self.url_column.strip():
            raise ConfigError("source.url_column: empty; name the column holding the image URLs (e.g. url)")
        _range("source.max_caption_classes", self.max_caption_classes, 1, 256)


@dataclass(frozen=True)
class FetchConfig:
    """The bounded HTTP client the load stage uses for http(s) uris (transforms/fetch.py)."""
    connect_timeout: float = 5.0    # s to open a connection
    read_timeout: float = 10.0      # s the server may stay silent
    total_timeout: float = 60.0     # s for one image, redirects, retries and backoff included
    max_bytes: int = 32 * 2**20     # larger bodies are too_large (streamed: reading stops at the limit)
    max_redirects: int = 5
    retries: int = 2                # extra attempts after a 5xx or a timeout (never after a 4xx or a refused connection)
    backoff: float = 0.5            # s before the first retry, doubled for each next one
    concurrency: int = 16           # requests at once per worker process
    user_agent: str = "inpaint-pairs/0.1 (training-pair builder; Apache Beam)"
    respect_noai: bool = True       # X-Robots-Tag noai / noimageai -> reject opted_out

    def __post_init__(self):
        for name in ("connect_timeout", "read_timeout", "total_timeout"):
            _range(f"image.fetch.{name}", getattr(self, name), 0.001, 3600.0)
        _range("image.fetch.max_bytes", self.max_bytes, 1, 2**34)
        _range("image.fetch.max_redirects", self.max_redirects, 0, 30)
        _range("image.fetch.retries", self.retries, 0, 10)
        _range("image.fetch.backoff", self.backoff, 0.0, 60.0)
        _range("image.fetch.concurrency", self.concurrency, 1, 1024)
        if not self.user_agent.strip() or not self.user_agent.isprintable() or not self.user_agent.isascii():
            raise ConfigError("image.fetch.user_agent: must be printable ASCII on one line, naming the project")


@dataclass(frozen=True)
class ImageConfig:
    size: int = 512                 # output side (short side for short_side, both for short_side_crop)
    resize: str = "short_side_crop"  # PIPE's release: short side to size, centre crop to size x size
    min_side: int = 64              # reject smaller inputs
    max_pixels: int = 89_478_485    # reject larger inputs (decompression bombs); Pillow's own limit
    fetch: FetchConfig = field(default_factory=FetchConfig)   # http(s) uris: the bounded download

    def __post_init__(self):
        _choice("image.resize", self.resize, ("short_side_crop", "short_side", "none"))
        _range("image.size", self.size, 16, 8192)
        _range("image.min_side", self.min_side, 1, 8192)
        _range("image.max_pixels", self.max_pixels, 1, 10**10)


# ---- models (issue 3): every model section shares ModelConfig's keys -------------------------------------
DEVICE = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")
DTYPES = ("auto", "float32", "float16", "bfloat16")
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")
SAM_TYPES = ("vit_h", "vit_l", "vit_b", "vit_tiny")   # model_wrappers/sam_auto.py SAM_ARCHS


def is_local_model(ref: str) -> bool:
    """A model reference is a local path when it starts with /, ./, ../ or ~; otherwise a hub id."""
    return ref.startswith(("/", "./", "../", "~")) or os.path.isabs(ref)


def _placeholders(key: str, text: str, allowed: tuple[str, ...]) -> None:
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}
    except ValueError as e:
        raise ConfigError(f"{key}: {text!r} is not a valid template ({e})") from None
    bad = sorted(names - set(allowed))
    if bad:
        raise ConfigError(f"{key}: unknown placeholder {{{bad[0]}}}; allowed: "
                          f"{', '.join('{' + a + '}' for a in allowed) or 'none'}")


@dataclass(frozen=True)
class ModelConfig:
    """Where a model comes from and how it runs. ``_KEY`` is the section's place in the config."""
    _KEY: ClassVar[str] = "model"
    model: str = ""                 # hub id (owner/name) or local path (starts with /, ./, ../ or ~)
    device: str = "auto"            # auto (cuda when present: one GPU per worker process, else cpu) | cpu | cuda | cuda:N
    dtype: str = "auto"             # auto (float16 on cuda, float32 on cpu) | float32 | float16 | bfloat16
    batch_size: int = 1             # elements per RunInference batch (upper bound; Beam adapts below it)
    share_across_processes: bool = False   # one copy per machine (Beam large_model), not one per process
    trust_remote_code: bool = False  # run code shipped with the model; only for models you trust

    def __post_init__(self):
        k = self._KEY
        if self.model and not is_local_model(self.model) and not HUB_ID.match(self.model):
            raise ConfigError(f"{k}.model: {self.model!r} is neither a local path (start it with /, ./, ../ "
                              f"or ~) nor a hub id (owner/name)")
        if not DEVICE.match(self.device):
            raise ConfigError(f"{k}.device: {self.device!r} is not allowed; choose auto, cpu, cuda or cuda:N")
        _choice(f"{k}.dtype", self.dtype, DTYPES)
        _range(f"{k}.batch_size", self.batch_size, 1, 4096)


@dataclass(frozen=True)
class SamConfig(ModelConfig):
    """SAM automatic masks (segment-anything SamAutomaticMaskGenerator); ``model`` is the .pth checkpoint."""
    _KEY: ClassVar[str] = "masks.sam"
    model_type: str = "vit_h"       # vit_h | vit_l | vit_b | vit_tiny (a 2-layer stand-in for tests)
    points_per_side: int = 32
    points_per_batch: int = 64
    pred_iou_thresh: float = 0.88
    stability_score_thresh: float = 0.95
    box_nms_thresh: float = 0.7
    min_mask_region_area: int = 0   # px; > 0 removes small holes and islands (OpenCV)

    def __post_init__(self):
        super().__post_init__()
        _choice("masks.sam.model_type", self.model_type, SAM_TYPES)
        _range("masks.sam.points_per_side", self.points_per_side, 1, 256)
        _range("masks.sam.points_per_batch", self.points_per_batch, 1, 4096)
        for name in ("pred_iou_thresh", "stability_score_thresh", "box_nms_thresh"):
            _range(f"masks.sam.{name}", getattr(self, name), 0.0, 1.0)
        _range("masks.sam.min_mask_region_area", self.min_mask_region_area, 0, 10**9)


@dataclass(frozen=True)
class GroundingConfig(ModelConfig):
    """Grounded-SAM: GroundingDINO boxes for text prompts, SAM (transformers) masks for the boxes."""
    _KEY: ClassVar[str] = "masks.grounding"
    model: str = "IDEA-Research/grounding-dino-base"
    sam_model: str = "facebook/sam-vit-huge"
    box_threshold: float = 0.3
    text_threshold: float = 0.25
    prompt_source: str = "config"   # config (prompts below) | categories (the image's own) | caption
    prompts: tuple[str, ...] = ()   # class names, for prompt_source config
    max_boxes: int = 20             # per image, highest box score first

    def __post_init__(self):
        super().__post_init__()
        if self.sam_model and not is_local_model(self.sam_model) and not HUB_ID.match(self.sam_model):
            raise ConfigError(f"masks.grounding.sam_model: {self.sam_model!r} is neither a local path nor a hub id")
        for name in ("box_threshold", "text_threshold"):
            _range(f"masks.grounding.{name}", getattr(self, name), 0.0, 1.0)
        _choice("masks.grounding.prompt_source", self.prompt_source, ("config", "categories", "caption"))
        if any(not p.strip() or "." in p for p in self.prompts):
            raise ConfigError("masks.grounding.prompts: each prompt must be a non-empty name without dots")
        _range("masks.grounding.max_boxes", self.max_boxes, 1, 1000)


@dataclass(frozen=True)
class DiffusionConfig(ModelConfig):
    """Diffusion inpainting (diffusers AutoPipelineForInpainting); PIPE's prompts, N seeded candidates."""
    _KEY: ClassVar[str] = "removal.diffusion"
    model: str = "stable-diffusion-v1-5/stable-diffusion-inpainting"
    steps: int = 10                 # PIPE: 10
    candidates: int = 3             # PIPE: 3 per object; seeds derive from the sample key
    seed: int = 0                   # mixed into every derived seed (change it to draw new candidates)
    guidance: float = 7.5
    strength: float = 1.0
    size: int = 512                 # long side the model runs at (multiple of 8); SDXL: 1024
    prompt: str = "a photo of a background, a photo of an empty place"
    negative_prompt: str = "an object, {a_class}"   # placeholders: {class}, {a_class}

    def __post_init__(self):
        super().__post_init__()
        _range("removal.diffusion.steps", self.steps, 1, 1000)
        _range("removal.diffusion.candidates", self.candidates, 1, 64)
        _range("removal.diffusion.seed", self.seed, 0, 2**31 - 1)
        _range("removal.diffusion.guidance", self.guidance, 0.0, 100.0)
        _range("removal.diffusion.strength", self.strength, 0.01, 1.0)
        if self.size < 64 or self.size % 8:
            raise ConfigError(f"removal.diffusion.size: {self.size!r} must be a multiple of 8, at least 64")
        for name in ("prompt", "negative_prompt"):
            _placeholders(f"removal.diffusion.{name}", getattr(self, name), ("class", "a_class"))


@dataclass(frozen=True)
class VlmConfig(ModelConfig):
    """VLM description of the object on PIPE's object-only view (chat VLMs and BLIP-class captioners)."""
    _KEY: ClassVar[str] = "describe.vlm"
    model: str = "llava-hf/llava-1.5-7b-hf"
    prompt: str = ("Accurately describe the main characteristics of the {class}. "
                   "Use few words which best describe the {class}.")   # chat VLMs; placeholder {class}
    caption_prefix: str = ""        # captioners without a chat template (BLIP): text the caption continues
    max_new_tokens: int = 40
    margin: float = 0.1             # crop = object box grown by this share of its size on each side

    def __post_init__(self):
        super().__post_init__()
        _placeholders("describe.vlm.prompt", self.prompt, ("class",))
        _range("describe.vlm.max_new_tokens", self.max_new_tokens, 1, 1024)
        _range("describe.vlm.margin", self.margin, 0.0, 2.0)


@dataclass(frozen=True)
class DescribeConfig:
    kind: str = "none"              # none | vlm (see transforms/describe.py DESCRIBERS)
    vlm: VlmConfig = field(default_factory=VlmConfig)


@dataclass(frozen=True)
class FewShot:
    """One worked example for the LLM: a description, its class, the instruction wanted."""
    caption: str
    name: str
    instruction: str


PIPE_FEW_SHOT = (
    FewShot("a brown leather handbag with a gold buckle", "handbag", "add a brown leather handbag"),
    FewShot("a small white dog with curly fur, sitting", "dog", "add a small white curly-haired dog"),
    FewShot("a red double-decker bus with adverts on its side", "bus", "add a red double-decker bus"),
    FewShot("a ripe yellow banana with a few brown spots", "banana", "add a ripe yellow banana"),
    FewShot("a wooden chair with a woven seat and a curved back", "chair", "add a wooden chair with a woven seat"),
)


@dataclass(frozen=True)
class LlmConfig(ModelConfig):
    """LLM rewrite of the description into an "add" instruction (causal LM with a chat template)."""
    _KEY: ClassVar[str] = "instructions.llm"
    model: str = "mistralai/Mistral-7B-Instruct-v0.2"
    prompt: str = ("Convert the following sentence into a short image addition instruction: {caption}. "
                   "Use straightforward language and describe only the {class}. "
                   "Ignore surroundings and background and avoid pictorial description.")
    few_shot: tuple[FewShot, ...] = PIPE_FEW_SHOT
    max_new_tokens: int = 32
    max_words: int = 20             # longer outputs are unusable: the class template is used instead

    def __post_init__(self):
        super().__post_init__()
        _placeholders("instructions.llm.prompt", self.prompt, ("caption", "class"))
        _range("instructions.llm.max_new_tokens", self.max_new_tokens, 1, 1024)
        _range("instructions.llm.max_words", self.max_words, 2, 200)
        if len(self.few_shot) > 20:
            raise ConfigError("instructions.llm.few_shot: at most 20 examples")


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


@dataclass(frozen=True)
class MasksConfig:
    kind: str = "annotations"       # see transforms/propose.py MASKERS
    unlabelled_class: str = "object"  # class name of model masks that carry no label (SAM automatic)
    sam: SamConfig = field(default_factory=SamConfig)
    grounding: GroundingConfig = field(default_factory=GroundingConfig)
    brush: BrushConfig = field(default_factory=BrushConfig)

    def __post_init__(self):
        g = self.grounding
        if self.kind == "grounded_sam" and g.prompt_source == "config" and not g.prompts:
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
    min_sam_iou: float = 0.0        # Grounded-SAM: SAM's predicted IoU of the mask (confident masks only)

    def __post_init__(self):
        for name in ("min_area_ratio", "max_area_ratio", "max_border_touch", "min_component_share",
                     "min_crop_kept", "min_sam_iou"):
            _range(f"filters.{name}", getattr(self, name), 0.0, 1.0)
        if self.min_area_ratio > self.max_area_ratio:
            raise ConfigError("filters.min_area_ratio must not exceed filters.max_area_ratio")
        _range("filters.min_pixels", self.min_pixels, 1, 10**9)
        _range("filters.max_objects", self.max_objects, 0, 10**6)


@dataclass(frozen=True)
class RemovalConfig:
    kind: str = "opencv"            # see transforms/remove.py REMOVERS
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
class InstructionsConfig:
    kind: str = "template"          # see transforms/instruct.py INSTRUCTORS
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
class ClipConfig(ModelConfig):
    """The CLIP scorer (transformers CLIPModel) every quality stage shares; one load per stage and worker."""
    _KEY: ClassVar[str] = "quality.clip"
    model: str = "openai/clip-vit-large-patch14"


@dataclass(frozen=True)
class DinoConfig(ModelConfig):
    """The DINOv2 image embedder (transformers Dinov2Model) of the optional ``importance_dino`` stage."""
    _KEY: ClassVar[str] = "quality.dino"
    model: str = "facebook/dinov2-base"


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
class OutputConfig:
    format: str = "pipe"            # pipe (one pair per object) | brushdata (one image, all its masks as RLE)
    image_format: str = "jpg"       # jpg | png (lossless)
    jpeg_quality: int = 95

    def __post_init__(self):
        _choice("output.format", self.format, ("pipe", "brushdata"))   # transforms/formats.py FORMATS
        _choice("output.image_format", self.image_format, ("jpg", "png"))
        _range("output.jpeg_quality", self.jpeg_quality, 1, 100)


@dataclass(frozen=True)
class Config:
    source: SourceConfig = field(default_factory=SourceConfig)
    image: ImageConfig = field(default_factory=ImageConfig)
    masks: MasksConfig = field(default_factory=MasksConfig)
    filters: FilterConfig = field(default_factory=FilterConfig)
    removal: RemovalConfig = field(default_factory=RemovalConfig)
    describe: DescribeConfig = field(default_factory=DescribeConfig)
    instructions: InstructionsConfig = field(default_factory=InstructionsConfig)
    quality: QualityConfig = field(default_factory=QualityConfig)
    output: OutputConfig = field(default_factory=OutputConfig)

    def __post_init__(self):
        r = self.removal
        if self.quality.runs("consensus") and (r.kind != "diffusion" or r.diffusion.candidates < 2):
            raise ConfigError("quality.stages: consensus needs removal.kind diffusion with "
                              "removal.diffusion.candidates >= 2 (or leave consensus out of quality.stages)")


PATH_KEYS = ("source.annotations", "source.images", "source.masks", "source.classes", "source.vocabulary")
PATH_WORDS = {"source.vocabulary": ("lvis", "none")}   # values of a path key that name no file
MODEL_KEYS = ("masks.sam.model", "masks.grounding.model", "masks.grounding.sam_model", "removal.diffusion.model",
              "describe.vlm.model", "instructions.llm.model", "quality.clip.model", "quality.dino.model")


def _build(cls, data: Any, prefix: str):
    if not isinstance(data, dict):
        raise ConfigError(f"{prefix or 'config'}: expected a mapping of keys, got {_show(data)}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = get_type_hints(cls)
    unknown = sorted(set(data) - set(fields))
    if unknown:
        where = f"{prefix}.{unknown[0]}" if prefix else unknown[0]
        raise ConfigError(f"unknown key {where!r}; allowed keys{' in ' + prefix if prefix else ''}: "
                          f"{', '.join(fields)}")
    kwargs = {}
    for name, value in data.items():
        key = f"{prefix}.{name}" if prefix else name
        kind = hints[name]
        if dataclasses.is_dataclass(kind):
            kwargs[name] = _build(kind, value, key)
        else:
            kwargs[name] = _coerce(key, value, kind)
    return cls(**kwargs)


def _coerce_tuple(key: str, value: Any, kind) -> tuple:
    """A YAML list -> tuple[X, ...]; items are checked like keys (``key[i]``), dataclass items built."""
    if not isinstance(value, (list, tuple)):
        raise ConfigError(f"{key}: expected a list, got {_show(value)}")
    item = get_args(kind)[0]
    if dataclasses.is_dataclass(item):
        return tuple(_build_item(item, v, f"{key}[{i}]") for i, v in enumerate(value))
    return tuple(_coerce(f"{key}[{i}]", v, item) for i, v in enumerate(value))


def _build_item(cls, data: Any, key: str):
    missing = [f.name for f in dataclasses.fields(cls) if f.name not in (data if isinstance(data, dict) else {})]
    if isinstance(data, dict) and missing:
        raise ConfigError(f"{key}: missing key {missing[0]!r}; each item needs "
                          f"{', '.join(f.name for f in dataclasses.fields(cls))}")
    return _build(cls, data, key)


def _coerce(key: str, value: Any, kind: type):
    if get_origin(kind) is tuple:
        return _coerce_tuple(key, value, kind)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if kind is str and value is None:
        return ""
    if kind is str and isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ConfigError(f"{key}: expected {kind.__name__}, got {_show(value)}")
    return value


def _merge(base: dict, key: str, value: Any) -> None:
    node = base
    parts = key.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"--set {key}: {part!r} is not a section")
    node[parts[-1]] = value


def _resolve_paths(data: dict, base_dir: str) -> None:
    for key in PATH_KEYS:
        section, name = key.split(".")
        value = data.get(section, {}).get(name) if isinstance(data.get(section), dict) else None
        if value in PATH_WORDS.get(key, ()):
            continue
        if isinstance(value, str) and value and "://" not in value and not os.path.isabs(value):
            data[section][name] = os.path.normpath(os.path.join(base_dir, value))


def _resolve_model_paths(data: dict, base_dir: str) -> None:
    """Local model paths (./, ../, ~) in a YAML file are relative to that file; hub ids stay as they are."""
    for key in MODEL_KEYS:
        *sections, name = key.split(".")
        node: Any = data
        for part in sections:
            node = node.get(part) if isinstance(node, dict) else None
        value = node.get(name) if isinstance(node, dict) else None
        if isinstance(value, str) and value and is_local_model(value):
            node[name] = os.path.normpath(os.path.join(base_dir, os.path.expanduser(value)))


def load_config(path: str | None, overrides: list[str] = ()) -> Config:
    """Load a YAML recipe and apply ``key.sub=value`` overrides (values parsed as YAML scalars)."""
    data: dict = {}
    if path:
        try:
            with open(path, encoding="utf-8") as f:
                data = yaml.safe_load(f) or {}
        except FileNotFoundError:
            raise ConfigError(f"config file not found: {path}") from None
        except yaml.YAMLError as e:
            raise ConfigError(f"config file {path} is not valid YAML: {e}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"config file {path}: expected a mapping at the top level")
        _resolve_paths(data, os.path.dirname(os.path.abspath(path)))
        _resolve_model_paths(data, os.path.dirname(os.path.abspath(path)))
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set {item!r}: expected key.sub=value")
        try:
            value = yaml.safe_load(raw) if raw else ""
        except yaml.YAMLError as e:
            raise ConfigError(f"--set {key}: the value {_show(raw)} is not a YAML value "
                              f"({str(e).splitlines()[0]}); quote it if it is text") from None
        if key in PATH_KEYS and isinstance(value, str) and value and "://" not in value \
                and value not in PATH_WORDS.get(key, ()):
            value = os.path.abspath(value)
        if key in MODEL_KEYS and isinstance(value, str) and value and is_local_model(value):
            value = os.path.abspath(os.path.expanduser(value))
        _merge(data, key.strip(), value)
    return _build(Config, data, "")


def to_dict(cfg: Config) -> dict:
    return dataclasses.asdict(cfg)


def dump_yaml(cfg: Config) -> str:
    return yaml.safe_dump(to_dict(cfg), sort_keys=False)
