"""Diffusion inpainting: diffusers ``AutoPipelineForInpainting`` (SD inpainting by default; SDXL selectable).

Every request is repainted once per seed; a batch of B requests x N seeds is one pipeline call (per model
size). Generators live on the CPU, so a seed draws the same starting noise on any device. The image runs at
``size`` on its long side (multiples of 8) and comes back at its own size.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from configs.schema import DiffusionConfig
from model_wrappers.base import Handler
from model_wrappers.locate import ModelRef, found_as
from model_wrappers.types import InpaintRequest, InpaintResult


def model_hw(h: int, w: int, size: int) -> tuple[int, int]:
    """(height, width) the model runs at: long side ``size``, both sides multiples of 8."""
    scale = size / max(h, w)
    return max(8, round(h * scale / 8) * 8), max(8, round(w * scale / 8) * 8)


def to_uint8(images: np.ndarray) -> list[np.ndarray]:
    """NxHxWx3 float in [0, 1] (the pipeline's 'np' output) -> N HxWx3 uint8 arrays."""
    return [np.clip(im * 255.0 + 0.5, 0, 255).astype(np.uint8) for im in images]


class Inpainter:
    """The loaded runner: ``predict([InpaintRequest]) -> [InpaintResult]``."""

    def __init__(self, pipe, cfg: DiffusionConfig):
        self.pipe, self.cfg = pipe, cfg

    def predict(self, requests: list[InpaintRequest]) -> list[InpaintResult]:
        groups: dict[tuple[int, int], list[int]] = {}
        for i, r in enumerate(requests):
            groups.setdefault(model_hw(*r.image.shape[:2], self.cfg.size), []).append(i)
        results: list = [None] * len(requests)
        for hw, idx in groups.items():
            for i, res in zip(idx, self._run([requests[i] for i in idx], hw)):
                results[i] = res
        return results

    def _run(self, requests: list[InpaintRequest], hw: tuple[int, int]) -> list[InpaintResult]:
        import torch
        from PIL import Image
        h, w = hw
        kw: dict = {"prompt": [], "negative_prompt": [], "image": [], "mask_image": [], "generator": []}
        fitted = [self.fit(r) for r in requests]
        requests = [dataclasses.replace(r, prompt=f.get("prompt", r.prompt),
                                        negative_prompt=f.get("negative_prompt", r.negative_prompt))
                    for r, f in zip(requests, fitted)]
        for r in requests:
            image = Image.fromarray(r.image).resize((w, h), Image.Resampling.BICUBIC)
            mask = Image.fromarray(r.mask.view(np.uint8) * np.uint8(255)).resize((w, h), Image.Resampling.NEAREST)
            for seed in r.seeds:
                kw["prompt"].append(r.prompt)
                kw["negative_prompt"].append(r.negative_prompt)
                kw["image"].append(image)
                kw["mask_image"].append(mask)
                kw["generator"].append(torch.Generator("cpu").manual_seed(seed))
        c = self.cfg
        with torch.inference_mode():
            out = self.pipe(**kw, num_inference_steps=c.steps, guidance_scale=c.guidance, strength=c.strength,
                            height=h, width=w, output_type="np")
        images = to_uint8(out.images)
        flags = list(getattr(out, "nsfw_content_detected", None) or [False] * len(images))
        results, k = [], 0
        for r, fit in zip(requests, fitted):
            n, (rh, rw) = len(r.seeds), r.image.shape[:2]
            back = [np.asarray(Image.fromarray(im).resize((rw, rh), Image.Resampling.BICUBIC))
                    for im in images[k: k + n]]
            results.append(InpaintResult(images=back, nsfw=[bool(f) for f in flags[k: k + n]], fitted=fit))
            k += n
        return results

    def fit(self, r: InpaintRequest) -> dict:
        """The prompts the text encoder cannot take whole, cut to its length on purpose (the pipeline would
        cut them silently): {'prompt': the text used, 'tokens': before, 'limit': the encoder's}; {} if both fit."""
        tok = getattr(self.pipe, "tokenizer", None)
        if tok is None or not isinstance(tok.model_max_length, int) or tok.model_max_length > 10**6:
            return {}
        limit, found = tok.model_max_length, {}
        for name in ("prompt", "negative_prompt"):
            text = getattr(r, name)
            tokens = len(tok(text).input_ids)
            if tokens > limit:   # the longest whole-word prefix that fits: readable, and encoded as in the prompt
                words = text.split()
                lo, hi = 0, len(words)
                while lo < hi:
                    mid = (lo + hi + 1) // 2
                    lo, hi = (mid, hi) if len(tok(" ".join(words[:mid])).input_ids) <= limit else (lo, mid - 1)
                found[name], found[f"{name}_tokens"] = " ".join(words[:lo]), tokens
        return {**found, "limit": limit} if found else {}


class DiffusionHandler(Handler):
    family = "diffusion"
    requires = ("torch", "transformers", "diffusers")
    cfg: DiffusionConfig

    def config_problem(self, model: ModelRef, config: dict) -> str | None:
        from diffusers.pipelines.auto_pipeline import AUTO_INPAINT_PIPELINES_MAPPING, AUTO_TEXT2IMAGE_PIPELINES_MAPPING
        usable = {c.__name__ for m in (AUTO_INPAINT_PIPELINES_MAPPING, AUTO_TEXT2IMAGE_PIPELINES_MAPPING)
                  for c in m.values()}
        if config.get("_class_name") not in usable:
            return (f"found {found_as(config)}; {model.key} needs a diffusers pipeline AutoPipelineForInpainting "
                    f"loads (an inpainting model such as stable-diffusion-inpainting, or SD/SDXL text-to-image)")
        return None

    def model_refs(self) -> list[ModelRef]:
        return [ModelRef("removal.diffusion.model", self.cfg.model, "diffusers")]

    def build(self, device: str, dtype: str) -> Inpainter:
        import torch
        from diffusers import AutoPipelineForInpainting
        pipe = AutoPipelineForInpainting.from_pretrained(self.cfg.model, dtype=getattr(torch, dtype),
                                                         trust_remote_code=self.cfg.trust_remote_code)
        pipe.set_progress_bar_config(disable=True)
        return Inpainter(pipe.to(device), self.cfg)
