"""The model sections: one ModelConfig subclass per model the stages can run.

``masks.sam``, ``masks.grounding``, ``masks.diffedit``, ``removal.diffusion``, ``describe.vlm``,
``instructions.llm`` (with its few-shot examples, PIPE's by default), ``quality.clip`` and ``quality.dino``.
Each shares ModelConfig's keys (configs/schema/base.py) and declares its own with their rules; ``_KEY``, the
section's place in the config, is set by ``name_sections`` from where Config puts it.
"""
from __future__ import annotations

from dataclasses import dataclass

from configs.schema.base import HUB_ID, ConfigError, ModelConfig, between, is_local_model, one_of, placeholders

@dataclass(frozen=True)
class SamConfig(ModelConfig):
    """SAM automatic masks (segment-anything SamAutomaticMaskGenerator); ``model`` is the .pth checkpoint."""
    model_type: str = "vit_h"       # a model_wrappers/sam.py SAM_ARCHS key (checked when the handler is built)
    points_per_side: int = between(1, 256, default=32)        # point grid side (points_per_side^2 prompts)
    points_per_batch: int = between(1, 4096, default=64)      # prompts per SAM decoder call
    pred_iou_thresh: float = between(0.0, 1.0, default=0.88)  # drop masks SAM predicts a lower IoU for
    stability_score_thresh: float = between(0.0, 1.0, default=0.95)   # drop masks less stable than this
    box_nms_thresh: float = between(0.0, 1.0, default=0.7)    # box IoU above which the weaker mask is dropped
    min_mask_region_area: int = between(0, 10**9, default=0)  # px; > 0 removes small holes and islands (OpenCV)


@dataclass(frozen=True)
class GroundingConfig(ModelConfig):
    """Grounded-SAM: GroundingDINO boxes for text prompts, SAM (transformers) masks for the boxes."""
    model: str = "IDEA-Research/grounding-dino-base"   # GroundingDINO: boxes for the text prompts
    sam_model: str = "facebook/sam-vit-huge"           # SAM (transformers): a mask for each box
    box_threshold: float = between(0.0, 1.0, default=0.3)    # GroundingDINO's box score to keep a box
    text_threshold: float = between(0.0, 1.0, default=0.25)  # GroundingDINO's token score to label a box
    prompt_source: str = one_of("config", "categories", "caption",   # config: the prompts below; categories: the
                                default="config")   # image's own classes; caption: the classes its caption names
    prompts: tuple[str, ...] = ()   # class names, for prompt_source config
    max_boxes: int = between(1, 1000, default=20)   # per image, highest box score first

    def __post_init__(self):
        super().__post_init__()
        k = self._KEY
        if self.sam_model and not is_local_model(self.sam_model) and not HUB_ID.match(self.sam_model):
            raise ConfigError(f"{k}.sam_model: {self.sam_model!r} is neither a local path nor a hub id")
        if any(not p.strip() or "." in p for p in self.prompts):
            raise ConfigError(f"{k}.prompts: each prompt must be a non-empty name without dots")


@dataclass(frozen=True)
class DiffusionConfig(ModelConfig):
    """Diffusion inpainting (diffusers AutoPipelineForInpainting); PIPE's prompts, N seeded candidates."""
    model: str = "stable-diffusion-v1-5/stable-diffusion-inpainting"   # an inpainting pipeline (SD 1.5/2, SDXL)
    steps: int = between(1, 1000, default=10)     # denoising steps; PIPE: 10
    candidates: int = between(1, 64, default=3)   # PIPE: 3 per object; seeds derive from the sample key
    seed: int = between(0, 2**31 - 1, default=0)  # mixed into every derived seed (change it to draw new candidates)
    guidance: float = between(0.0, 100.0, default=7.5)   # classifier-free guidance scale
    strength: float = between(0.01, 1.0, default=1.0)    # share of the denoising run on the masked image (1: all)
    size: int = 512                 # long side the model runs at (a multiple of 8, at least 64); SDXL: 1024
    prompt: str = placeholders("class", "a_class",
                               default="a photo of a background, a photo of an empty place")   # what the mask becomes
    negative_prompt: str = placeholders("class", "a_class", default="an object, {a_class}")   # what it must not show

    def __post_init__(self):
        super().__post_init__()
        if self.size < 64 or self.size % 8:
            raise ConfigError(f"{self._KEY}.size: {self.size!r} must be a multiple of 8, at least 64")


@dataclass(frozen=True)
class DiffEditConfig(ModelConfig):
    """DiffEdit masks (Couairon et al., arXiv 2210.11427) from a text-to-image diffusion model (SD 1.5/2.1 class).
    The image is encoded, noised to ``strength`` ``noise_draws`` times, and the UNet's noise predictions under a
    query prompt (naming the object) and a reference prompt (without it) are contrasted; the mean absolute
    difference is clamped at ``clamp_ratio`` x its mean, normalised to [0, 1] and thresholded (diffusers'
    generate_mask defaults: 10 draws, strength 0.5, ratio 3, threshold 0.5)."""
    model: str = "stable-diffusion-v1-5/stable-diffusion-v1-5"   # a text-to-image model (SD 1.5/2.1 class)
    size: int = 512                 # long side the model runs at (a multiple of 8, at least 64)
    noise_draws: int = between(1, 256, default=10)        # noisings averaged per prompt
    strength: float = between(0.01, 1.0, default=0.5)     # noise level: the share of the training timesteps
    clamp_ratio: float = between(0.1, 100.0, default=3.0)  # the difference is clamped at this x its mean
    threshold: float = between(0.0, 0.999, default=0.5)   # on the normalised difference: above = mask
    query_prompt: str = placeholders("class", "caption", default="a photo of a {class}")   # names the object
    reference_prompt: str = placeholders("class", "caption", "caption_without", default="a photo")   # without it
    caption_prompts: bool = True    # a caption naming the class: query = the caption, reference = it without the class
    max_classes: int = between(1, 256, default=8)   # classes per image (the source's order)
    seed: int = between(0, 2**31 - 1, default=0)    # mixed into every key's seed (the noise draws)

    def __post_init__(self):
        super().__post_init__()
        if self.size < 64 or self.size % 8:
            raise ConfigError(f"{self._KEY}.size: {self.size!r} must be a multiple of 8, at least 64")


@dataclass(frozen=True)
class VlmConfig(ModelConfig):
    """VLM description of the object on PIPE's object-only view (chat VLMs and BLIP-class captioners)."""
    model: str = "llava-hf/llava-1.5-7b-hf"   # a chat VLM or a BLIP-class captioner
    prompt: str = placeholders("class", default="Accurately describe the main characteristics of the {class}. "
                               "Use few words which best describe the {class}.")   # the question to chat VLMs
    caption_prefix: str = ""        # captioners without a chat template (BLIP): text the caption continues
    max_new_tokens: int = between(1, 1024, default=40)   # longest description
    margin: float = between(0.0, 2.0, default=0.1)       # crop = object box grown by this share of its size per side


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
    model: str = "mistralai/Mistral-7B-Instruct-v0.2"   # a causal LM with a chat template
    prompt: str = placeholders("caption", "class", default=(
        "Convert the following sentence into a short image addition instruction: {caption}. "
        "Use straightforward language and describe only the {class}. "
        "Ignore surroundings and background and avoid pictorial description."))   # the request for each object
    few_shot: tuple[FewShot, ...] = PIPE_FEW_SHOT   # worked examples (caption, name, instruction); at most 20
    max_new_tokens: int = between(1, 1024, default=32)   # longest instruction generated
    max_words: int = between(2, 200, default=20)   # longer outputs are unusable: the class template is used instead

    def __post_init__(self):
        super().__post_init__()
        if len(self.few_shot) > 20:
            raise ConfigError(f"{self._KEY}.few_shot: at most 20 examples")


@dataclass(frozen=True)
class ClipConfig(ModelConfig):
    """The CLIP scorer (transformers CLIPModel) every quality stage shares; one load per stage and worker."""
    model: str = "openai/clip-vit-large-patch14"   # a transformers CLIPModel


@dataclass(frozen=True)
class DinoConfig(ModelConfig):
    """The DINOv2 image embedder (transformers Dinov2Model) of the optional ``importance_dino`` stage."""
    model: str = "facebook/dinov2-base"   # a transformers Dinov2Model
