"""The model sections (issue 3): one ModelConfig subclass per model the stages can run.

``masks.sam``, ``masks.grounding``, ``removal.diffusion``, ``describe.vlm``, ``instructions.llm`` (with its
few-shot examples, PIPE's by default), ``quality.clip`` and ``quality.dino``. Each shares ModelConfig's keys
(configs/schema/base.py) and checks its own; ``_KEY`` is the section's place in the config.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from configs.schema.base import HUB_ID, ConfigError, ModelConfig, _choice, _placeholders, _range, is_local_model



@dataclass(frozen=True)
class SamConfig(ModelConfig):
    """SAM automatic masks (segment-anything SamAutomaticMaskGenerator); ``model`` is the .pth checkpoint."""
    _KEY: ClassVar[str] = "masks.sam"
    model_type: str = "vit_h"       # a model_wrappers/sam.py SAM_ARCHS key (checked when the handler is built)
    points_per_side: int = 32
    points_per_batch: int = 64
    pred_iou_thresh: float = 0.88
    stability_score_thresh: float = 0.95
    box_nms_thresh: float = 0.7
    min_mask_region_area: int = 0   # px; > 0 removes small holes and islands (OpenCV)

    def __post_init__(self):
        super().__post_init__()
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
class DiffEditConfig(ModelConfig):
    """DiffEdit masks (Couairon et al., arXiv 2210.11427) from a text-to-image diffusion model (SD 1.5/2.1 class):
    the image is encoded, noised to ``strength`` ``noise_draws`` times, and the UNet's noise predictions under a
    query prompt (naming the object) and a reference prompt (without it) are contrasted; the mean absolute
    difference is clamped at ``clamp_ratio`` x its mean, normalised to [0, 1] and thresholded (diffusers'
    generate_mask defaults: 10 draws, strength 0.5, ratio 3, threshold 0.5)."""
    _KEY: ClassVar[str] = "masks.diffedit"
    model: str = "stable-diffusion-v1-5/stable-diffusion-v1-5"
    size: int = 512                 # long side the model runs at (multiple of 8)
    noise_draws: int = 10
    strength: float = 0.5           # noise level: the share of the training timesteps
    clamp_ratio: float = 3.0
    threshold: float = 0.5
    query_prompt: str = "a photo of a {class}"     # placeholders {class}, {caption}
    reference_prompt: str = "a photo"               # placeholders {class}, {caption}, {caption_without}
    caption_prompts: bool = True    # a caption naming the class: query = the caption, reference = it without the class
    max_classes: int = 8            # classes per image (the source's order)
    seed: int = 0                   # mixed into every key's seed (the noise draws)

    def __post_init__(self):
        super().__post_init__()
        if self.size < 64 or self.size % 8:
            raise ConfigError(f"masks.diffedit.size: {self.size!r} must be a multiple of 8, at least 64")
        _range("masks.diffedit.noise_draws", self.noise_draws, 1, 256)
        _range("masks.diffedit.strength", self.strength, 0.01, 1.0)
        _range("masks.diffedit.clamp_ratio", self.clamp_ratio, 0.1, 100.0)
        _range("masks.diffedit.threshold", self.threshold, 0.0, 0.999)
        _range("masks.diffedit.max_classes", self.max_classes, 1, 256)
        _range("masks.diffedit.seed", self.seed, 0, 2**31 - 1)
        _placeholders("masks.diffedit.query_prompt", self.query_prompt, ("class", "caption"))
        _placeholders("masks.diffedit.reference_prompt", self.reference_prompt, ("class", "caption", "caption_without"))


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
class ClipConfig(ModelConfig):
    """The CLIP scorer (transformers CLIPModel) every quality stage shares; one load per stage and worker."""
    _KEY: ClassVar[str] = "quality.clip"
    model: str = "openai/clip-vit-large-patch14"


@dataclass(frozen=True)
class DinoConfig(ModelConfig):
    """The DINOv2 image embedder (transformers Dinov2Model) of the optional ``importance_dino`` stage."""
    _KEY: ClassVar[str] = "quality.dino"
    model: str = "facebook/dinov2-base"
