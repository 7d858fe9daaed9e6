"""DiffEdit masks (Couairon et al., arXiv 2210.11427), our own short implementation on a Stable Diffusion's parts.

diffusers 0.42 ships ``StableDiffusionDiffEditPipeline.generate_mask`` under ``deprecated/``; a deprecated
pipeline may vanish in any release, and the mask needs little of it: the VAE, the text encoder and tokenizer,
the UNet and the scheduler's noise schedule, loaded as components from any SD 1.5/2.1-class folder or hub id
(no safety checker is loaded). For each request:

1. the image (long side ``size``, multiples of 8) is encoded to latents (the VAE posterior's mean);
2. ``noise_draws`` noises (drawn on the CPU from the request's seed) noise it to the timestep ``strength`` x T;
3. the UNet predicts the noise under the query prompt and under the reference prompt (one batch);
4. ``guidance_mask``: the absolute difference, averaged over draws and channels, clamped at ``clamp_ratio`` x
   its mean, scaled to [0, 1] and thresholded at ``threshold`` (generate_mask's rule), then resized (nearest) to
   the image. Classifier-free guidance would scale both predictions' difference by the guidance scale, which
   the clamp-and-scale removes, so it is not run.
Masks are HxW bool in the request's frame.

A difference that is float noise is no difference: the clamp-and-scale would stretch any difference, however
small, into a mask. Noise is judged relative to the predictions' own magnitude (their mean absolute value):
below ``NOISE_FLOOR`` (or 8 machine epsilons of a half-precision dtype, whose rounding is coarser) the mask is
empty and the difference recorded as 0. How the floor was chosen, with the tiny text-to-image model on an AMD
EPYC (AVX-512): the same prompt twice gives halves of the UNet batch that differ by 7.1e-7-7.2e-7 of the
predictions' magnitude under MKL's default kernels and by exactly 0 under ``MKL_CBWR=AVX2`` or ``COMPATIBLE``;
two different prompts differ by 5.2e-3 (a real SD model's prompts differ by more). 1e-4 sits two orders of
magnitude above the noise and fifty times below the smallest real difference seen.
"""
from __future__ import annotations

import cv2
import numpy as np

from configs.schema import DiffEditConfig
from model_wrappers.base import Handler
from model_wrappers.diffusion import model_hw
from model_wrappers.locate import ModelRef, found_as
from model_wrappers.types import DiffEditRequest, MaskProposal


NOISE_FLOOR = 1e-4   # mean |difference| / mean |prediction| under which two predictions are the same


def noise_floor(dtype) -> float:
    """The relative floor for predictions computed in torch ``dtype``: NOISE_FLOOR, or 8 epsilons of a
    coarser dtype (float16: 7.8e-3, bfloat16: 6.3e-2)."""
    import torch
    return max(NOISE_FLOOR, 8 * torch.finfo(dtype).eps)


def guidance_mask(eps_query: np.ndarray, eps_reference: np.ndarray, clamp_ratio: float,
                  threshold: float, floor: float = NOISE_FLOOR) -> tuple[np.ndarray, float]:
    """NxCxhxw noise predictions under the two prompts -> (hxw bool mask, mean difference). A difference
    under ``floor`` of the predictions' mean magnitude (float noise; the same prompt twice) gives an empty
    mask and a difference of 0."""
    q, r = eps_query.astype(np.float64), eps_reference.astype(np.float64)
    diff = np.abs(q - r).mean(axis=(0, 1))
    scale = (np.abs(q).mean() + np.abs(r).mean()) / 2
    clamp = float(diff.mean()) * clamp_ratio
    if clamp <= 0 or float(diff.mean()) <= floor * scale:
        return np.zeros(diff.shape, bool), 0.0
    return np.clip(diff, 0, clamp) / clamp > threshold, float(diff.mean())


class DiffEditor:
    """The loaded runner: ``predict([DiffEditRequest]) -> [[MaskProposal per label]]``."""

    def __init__(self, parts: dict, cfg: DiffEditConfig, device: str, dtype):
        self.p, self.cfg, self.device, self.dtype = parts, cfg, device, dtype

    def predict(self, requests: list[DiffEditRequest]) -> list[list[MaskProposal]]:
        return [self._one(r) for r in requests]

    def _embed(self, texts: list[str]):
        tok = self.p["tokenizer"]
        ids = tok(texts, padding="max_length", max_length=tok.model_max_length, truncation=True,
                  return_tensors="pt").input_ids.to(self.device)
        return self.p["text_encoder"](ids)[0]

    def _latents(self, image: np.ndarray):
        import torch
        h, w = model_hw(*image.shape[:2], self.cfg.size)
        x = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)
        x = torch.from_numpy(x).permute(2, 0, 1)[None].to(self.device, self.dtype) / 127.5 - 1
        vae = self.p["vae"]
        return vae.encode(x).latent_dist.mean * vae.config.scaling_factor

    def _one(self, r: DiffEditRequest) -> list[MaskProposal]:
        import torch
        c, sched, unet = self.cfg, self.p["scheduler"], self.p["unet"]
        with torch.inference_mode():
            latents = self._latents(r.image)
            gen = torch.Generator("cpu").manual_seed(r.seed)
            noise = torch.randn((c.noise_draws, *latents.shape[1:]), generator=gen).to(self.device, self.dtype)
            t = torch.tensor([int(c.strength * (sched.config.num_train_timesteps - 1))], device=self.device)
            noisy = sched.add_noise(latents.expand_as(noise), noise, t)
            out = []
            for label, query, reference in zip(r.labels, r.queries, r.references):
                text = self._embed([query, reference])
                states = text.repeat_interleave(c.noise_draws, dim=0)
                eps = unet(noisy.repeat(2, 1, 1, 1), t.expand(2 * c.noise_draws), encoder_hidden_states=states).sample
                eps = eps.float().cpu().numpy()
                small, mean = guidance_mask(eps[: c.noise_draws], eps[c.noise_draws:], c.clamp_ratio, c.threshold,
                                             noise_floor(self.dtype))
                mask = cv2.resize(small.view(np.uint8), r.image.shape[1::-1], interpolation=cv2.INTER_NEAREST)
                out.append(MaskProposal(mask=mask.astype(bool), label=label,
                                        scores={"diffedit_difference": round(mean, 6)}))
        return out


class DiffEditHandler(Handler):
    family = "diffedit"
    requires = ("torch", "transformers", "diffusers")
    cfg: DiffEditConfig

    def config_problem(self, model: ModelRef, config: dict) -> str | None:
        if config.get("_class_name") not in ("StableDiffusionPipeline", "StableDiffusionDiffEditPipeline"):
            return (f"found {found_as(config)}; {model.key} needs a Stable Diffusion text-to-image model "
                    f"(StableDiffusionPipeline, SD 1.5/2.1 class; not an inpainting one)")
        return None

    def model_refs(self) -> list[ModelRef]:
        return [ModelRef("masks.diffedit.model", self.cfg.model, "diffusers")]

    def build(self, device: str, dtype: str) -> DiffEditor:
        import torch
        from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel
        from transformers import CLIPTextModel, CLIPTokenizer
        ref, torch_dtype = self.cfg.model, getattr(torch, dtype)
        parts = {"vae": AutoencoderKL.from_pretrained(ref, subfolder="vae", torch_dtype=torch_dtype),
                 "unet": UNet2DConditionModel.from_pretrained(ref, subfolder="unet", torch_dtype=torch_dtype),
                 "text_encoder": CLIPTextModel.from_pretrained(ref, subfolder="text_encoder", dtype=torch_dtype),
                 "tokenizer": CLIPTokenizer.from_pretrained(ref, subfolder="tokenizer"),
                 "scheduler": DDIMScheduler.from_pretrained(ref, subfolder="scheduler")}
        channels = parts["unet"].config.in_channels
        if channels != parts["vae"].config.latent_channels:
            raise ValueError(f"its UNet takes {channels} input channels, not the VAE's "
                             f"{parts['vae'].config.latent_channels} latents: an inpainting model? DiffEdit needs a "
                             f"text-to-image Stable Diffusion (e.g. stable-diffusion-v1-5/stable-diffusion-v1-5)")
        for name in ("vae", "unet", "text_encoder"):
            parts[name] = parts[name].to(device).eval()
        return DiffEditor(parts, self.cfg, device, torch_dtype)
