"""Tiny random models of every family, saved the way real ones are, so tests load them through the real code.

Each builder writes one model into a folder (``save_pretrained`` / a state-dict file) and returns its path.
``tiny_models(root)`` builds all of them once per test session. Seeds are fixed: the same weights every run.
"""
from __future__ import annotations

import functools
import os

WORDS = ["a", "an", "the", "photo", "of", "background", "empty", "place", "object", "red", "round", "apple",
         "cat", "dog", "add", "with", "fur", "shiny", "describe", "main", "characteristics", "."]

DEMO_CLASSES = ["person", "flag", "helmet", "patch", "rocket", "cup", "saucer", "spoon", "tower", "galaxy",
                "optic", "disc", "camera", "tripod"]


def _bert_tokenizer(extra=()):
    from transformers import BertTokenizer
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *extra, *WORDS]
    return BertTokenizer(vocab={w: i for i, w in enumerate(vocab)}, model_max_length=64)


def _bpe_tokenizer(extra_special=(), chat_template=None):
    """A byte-level BPE trained in-process (no download), with <s> </s> <pad> and a chat template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast
    bpe = Tokenizer(models.BPE(unk_token="<unk>"))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=320, special_tokens=["<unk>", "<s>", "</s>", "<pad>", *extra_special],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    bpe.train_from_iterator([" ".join(WORDS)] * 10, trainer)
    extra = {"image_token": "<image>"} if "<image>" in extra_special else {}
    return PreTrainedTokenizerFast(tokenizer_object=bpe, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
                                   pad_token="<pad>", model_max_length=2048, chat_template=chat_template,
                                   extra_special_tokens=extra)


CHAT = ("{% for m in messages %}<s>{{ m['role'] }}: {% if m['content'] is string %}{{ m['content'] }}"
        "{% else %}{% for c in m['content'] %}{% if c['type'] == 'image' %}<image>{% else %}{{ c['text'] }}"
        "{% endif %}{% endfor %}{% endif %}</s>{% endfor %}{% if add_generation_prompt %}<s>assistant: {% endif %}")


def _llama_config(vocab_size: int):
    from transformers import LlamaConfig
    return LlamaConfig(vocab_size=vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                       num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=2048,
                       bos_token_id=1, eos_token_id=2, pad_token_id=3)


def build_sam_checkpoint(folder: str) -> str:
    """segment-anything 'vit_tiny' state dict as a .pth file."""
    import torch
    from model_wrappers.sam import build_sam
    torch.manual_seed(0)
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "sam_vit_tiny.pth")
    torch.save(build_sam("vit_tiny").state_dict(), path)
    return path


def build_grounding_dino(folder: str) -> str:
    import torch
    from transformers import (BertConfig, GroundingDinoConfig, GroundingDinoForObjectDetection,
                              GroundingDinoImageProcessor, GroundingDinoProcessor, SwinConfig)
    torch.manual_seed(0)
    # the demo set's class names are words it knows: a detected phrase then names its prompt
    tok = _bert_tokenizer(extra=DEMO_CLASSES)
    backbone = SwinConfig(image_size=64, patch_size=4, embed_dim=8, depths=[1, 1, 1, 1], num_heads=[1, 1, 1, 1],
                          window_size=2, out_features=["stage2", "stage3", "stage4"])
    text = BertConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                      intermediate_size=32, max_position_embeddings=64)
    cfg = GroundingDinoConfig(backbone_config=backbone, text_config=text, num_queries=20, encoder_layers=1,
                              decoder_layers=2, encoder_ffn_dim=32, decoder_ffn_dim=32, encoder_attention_heads=2,
                              decoder_attention_heads=2, d_model=32, max_text_len=32, encoder_n_points=1,
                              decoder_n_points=1)
    GroundingDinoForObjectDetection(cfg).eval().save_pretrained(folder)
    image_processor = GroundingDinoImageProcessor(size={"shortest_edge": 128, "longest_edge": 128})
    GroundingDinoProcessor(image_processor=image_processor, tokenizer=tok).save_pretrained(folder)
    return folder


def build_hf_sam(folder: str) -> str:
    import torch
    from transformers import (SamConfig, SamImageProcessor, SamMaskDecoderConfig, SamModel, SamProcessor,
                              SamPromptEncoderConfig, SamVisionConfig)
    torch.manual_seed(0)
    vision = SamVisionConfig(hidden_size=32, output_channels=32, num_hidden_layers=2, num_attention_heads=2,
                             mlp_dim=64, image_size=256, patch_size=16, global_attn_indexes=[1], window_size=4,
                             num_pos_feats=16)
    cfg = SamConfig(vision_config=vision,
                    prompt_encoder_config=SamPromptEncoderConfig(hidden_size=32, image_size=256, patch_size=16),
                    mask_decoder_config=SamMaskDecoderConfig(hidden_size=32, mlp_dim=64, num_attention_heads=2,
                                                             iou_head_hidden_dim=32))
    SamModel(cfg).eval().save_pretrained(folder)
    processor = SamImageProcessor(size={"longest_edge": 256}, pad_size={"height": 256, "width": 256})
    SamProcessor(image_processor=processor).save_pretrained(folder)
    return folder


def _sd_parts(in_channels: int) -> dict:
    """A tiny Stable Diffusion's components (64 px, 8x8 latents); UNet in_channels 9 (inpainting) or 4."""
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer
    torch.manual_seed(0)
    unet = UNet2DConditionModel(block_out_channels=(32, 64), layers_per_block=1, sample_size=8,
                                in_channels=in_channels, out_channels=4,
                                down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
                                up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=32,
                                attention_head_dim=4, norm_num_groups=8)
    vae = AutoencoderKL(block_out_channels=[16, 32], in_channels=3, out_channels=3, latent_channels=4,
                        down_block_types=["DownEncoderBlock2D"] * 2, up_block_types=["UpDecoderBlock2D"] * 2,
                        norm_num_groups=8, sample_size=64)
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1, **{f"{w}</w>": i + 2 for i, w in enumerate(WORDS)}}
    tok = CLIPTokenizer(vocab=vocab, merges=[], model_max_length=77)
    text = CLIPTextModel(CLIPTextConfig(bos_token_id=0, eos_token_id=1, pad_token_id=1, hidden_size=32,
                                        intermediate_size=37, num_attention_heads=4, num_hidden_layers=2,
                                        vocab_size=len(vocab), max_position_embeddings=77))
    scheduler = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                              clip_sample=False, set_alpha_to_one=False, steps_offset=1)
    return {"unet": unet, "vae": vae, "text_encoder": text, "tokenizer": tok, "scheduler": scheduler,
            "safety_checker": None, "feature_extractor": None, "requires_safety_checker": False}


def build_sd_inpainting(folder: str) -> str:
    """StableDiffusionInpaintPipeline at 64 px (8x8 latents), no safety checker."""
    from diffusers import StableDiffusionInpaintPipeline
    StableDiffusionInpaintPipeline(**_sd_parts(9)).save_pretrained(folder)
    return folder


def build_sd_text2img(folder: str) -> str:
    """A text-to-image StableDiffusionPipeline at 64 px (UNet in_channels 4): DiffEdit's model."""
    from diffusers import StableDiffusionPipeline
    StableDiffusionPipeline(**_sd_parts(4)).save_pretrained(folder)
    return folder


def build_blip(folder: str) -> str:
    """A BLIP captioner (no chat template): the VLM's caption mode."""
    import torch
    from transformers import (BlipConfig, BlipForConditionalGeneration, BlipImageProcessor, BlipProcessor,
                              BlipTextConfig, BlipVisionConfig)
    torch.manual_seed(0)
    tok = _bert_tokenizer(extra=["[DEC]"])
    tok.add_special_tokens({"bos_token": "[DEC]"})
    vision = BlipVisionConfig(hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=2,
                              image_size=32, patch_size=8)
    text = BlipTextConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=37, num_hidden_layers=2,
                          num_attention_heads=2, max_position_embeddings=64, bos_token_id=5, pad_token_id=0,
                          sep_token_id=3, eos_token_id=3)
    BlipForConditionalGeneration(BlipConfig(vision_config=vision.to_dict(), text_config=text.to_dict(),
                                            projection_dim=32)).eval().save_pretrained(folder)
    BlipProcessor(image_processor=BlipImageProcessor(size={"height": 32, "width": 32}),
                  tokenizer=tok).save_pretrained(folder)
    return folder


def build_llava(folder: str) -> str:
    """A LLaVA-class chat VLM (CLIP vision + Llama, chat template): the VLM's chat mode."""
    import torch
    from transformers import (CLIPImageProcessor, CLIPVisionConfig, LlavaConfig, LlavaForConditionalGeneration,
                              LlavaProcessor)
    torch.manual_seed(0)
    tok = _bpe_tokenizer(extra_special=("<image>",))
    vision = CLIPVisionConfig(hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=2,
                              image_size=32, patch_size=8, projection_dim=32)
    cfg = LlavaConfig(vision_config=vision, text_config=_llama_config(len(tok)),
                      image_token_index=tok.convert_tokens_to_ids("<image>"), vision_feature_layer=-1)
    LlavaForConditionalGeneration(cfg).eval().save_pretrained(folder)
    processor = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    LlavaProcessor(image_processor=processor, tokenizer=tok, patch_size=8, chat_template=CHAT,
                   vision_feature_select_strategy="full", num_additional_image_tokens=0).save_pretrained(folder)
    return folder


def build_llm(folder: str) -> str:
    """A Llama causal LM with a chat template."""
    import torch
    from transformers import LlamaForCausalLM
    torch.manual_seed(0)
    tok = _bpe_tokenizer(chat_template=CHAT)
    LlamaForCausalLM(_llama_config(len(tok))).eval().save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def build_clip(folder: str) -> str:
    """A CLIPModel (32 px images, 16-d projections) with its CLIPProcessor: the quality stages' scorer."""
    import torch
    from transformers import (CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor, CLIPTextConfig,
                              CLIPTokenizer, CLIPVisionConfig)
    torch.manual_seed(0)
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1, **{f"{w}</w>": i + 2 for i, w in enumerate(WORDS)}}
    tok = CLIPTokenizer(vocab=vocab, merges=[], model_max_length=77)
    text = CLIPTextConfig(bos_token_id=0, eos_token_id=1, pad_token_id=1, hidden_size=32, intermediate_size=37,
                          num_attention_heads=2, num_hidden_layers=2, vocab_size=len(vocab),
                          max_position_embeddings=77)
    vision = CLIPVisionConfig(hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=2,
                              image_size=32, patch_size=8)
    CLIPModel(CLIPConfig(text_config=text.to_dict(), vision_config=vision.to_dict(),
                         projection_dim=16)).eval().save_pretrained(folder)
    images = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    CLIPProcessor(image_processor=images, tokenizer=tok).save_pretrained(folder)
    return folder


def build_dino(folder: str) -> str:
    """A Dinov2Model (64 px images, 16 px patches, 32-d embeddings) with its image processor: importance_dino."""
    import torch
    from transformers import BitImageProcessor, Dinov2Config, Dinov2Model
    torch.manual_seed(0)
    cfg = Dinov2Config(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, mlp_ratio=2, image_size=64,
                       patch_size=16)
    Dinov2Model(cfg).eval().save_pretrained(folder)
    BitImageProcessor(size={"shortest_edge": 64}, crop_size={"height": 64, "width": 64}).save_pretrained(folder)
    return folder


BUILDERS = {
    "sam": build_sam_checkpoint, "grounding_dino": build_grounding_dino, "hf_sam": build_hf_sam,
    "sd": build_sd_inpainting, "sd_t2i": build_sd_text2img, "blip": build_blip, "llava": build_llava, "llm": build_llm,
    "clip": build_clip, "dino": build_dino,
}


@functools.cache
def tiny_models(root: str) -> dict[str, str]:
    """Build every tiny model under ``root`` once; name -> path (a folder, or the SAM .pth file)."""
    return {name: build(os.path.join(root, name)) for name, build in BUILDERS.items()}


def tiny_overrides(paths: dict[str, str], vlm: str = "blip", masks: str | None = "sam",
                   quality: bool = False) -> list[str]:
    """``--set`` overrides that run every model stage with the tiny models on the CPU (64 px images);
    ``masks=None`` leaves the masks section as configured; ``quality`` keeps PIPE's CLIP filters (tiny CLIP,
    thresholds as configured), else they are turned off."""
    sets = {
        "sam": [f"masks.sam.model={paths['sam']}", "masks.sam.model_type=vit_tiny", "masks.sam.points_per_side=4",
                "masks.sam.pred_iou_thresh=0", "masks.sam.stability_score_thresh=0"],
        "grounded_sam": [f"masks.grounding.model={paths['grounding_dino']}",
                         f"masks.grounding.sam_model={paths['hf_sam']}", "masks.grounding.box_threshold=0",
                         "masks.grounding.text_threshold=0", "masks.grounding.max_boxes=3",
                         "masks.grounding.prompt_source=categories"],
        None: [],
    }[masks]
    return [*([f"masks.kind={masks}"] if masks else []), *sets,
            "removal.kind=diffusion", f"removal.diffusion.model={paths['sd']}", "removal.diffusion.steps=2",
            "removal.diffusion.candidates=2", "removal.diffusion.size=64", "removal.diffusion.batch_size=4",
            "describe.kind=vlm", f"describe.vlm.model={paths[vlm]}", "describe.vlm.max_new_tokens=6",
            "describe.vlm.batch_size=4",
            "instructions.kind=llm", f"instructions.llm.model={paths['llm']}", "instructions.llm.max_new_tokens=8",
            "instructions.llm.batch_size=4", "instructions.txt=vlm_llm",
            *([f"quality.clip.model={paths['clip']}", "quality.clip.batch_size=4"] if quality
              else ["quality.kind=none"])]


_SESSION: dict[int, dict[str, str]] = {}


def session_models(tmp_path_factory) -> dict[str, str]:
    """``tiny_models`` under one folder per pytest session (shared by every test module that asks)."""
    key = id(tmp_path_factory)
    if key not in _SESSION:
        _SESSION[key] = tiny_models(str(tmp_path_factory.mktemp("tiny_models")))
    return _SESSION[key]
