"""DINOv2 embedder: transformers ``Dinov2Model`` image embeddings, unit length, for the optional
``importance_dino`` quality stage (a second image metric beside CLIP's).

It answers the CLIP scorer's request type with images only (model_wrappers/types.py EmbedRequest): identical images
of a batch (same bytes) are embedded once. The embedding is ``pooler_output``: the CLS token of the final
layer-normed hidden state.
"""
from __future__ import annotations

import numpy as np

from configs.schema import DinoConfig
from model_wrappers.base import Handler
from model_wrappers.clip import image_key, unit
from model_wrappers.types import Embeddings, EmbedRequest
from model_wrappers.locate import ModelRef, found_as


class DinoScorer:
    """The loaded runner: ``predict([EmbedRequest]) -> [Embeddings]`` (texts must be empty)."""

    def __init__(self, model, processor, device: str):
        self.model, self.processor, self.device = model, processor, device
        self.dtype = next(model.parameters()).dtype
        self.dim = model.config.hidden_size

    def embed_images(self, images: list[np.ndarray]) -> np.ndarray:
        """N HxWx3 uint8 images -> NxD unit embeddings (one forward pass)."""
        import torch
        from PIL import Image
        inputs = self.processor(images=[Image.fromarray(im) for im in images], return_tensors="pt")
        pixels = inputs["pixel_values"].to(self.device, self.dtype)
        with torch.inference_mode():
            out = self.model(pixel_values=pixels).pooler_output
        return unit(out.float().cpu().numpy())

    def predict(self, requests: list[EmbedRequest]) -> list[Embeddings]:
        if any(r.texts for r in requests):
            raise ValueError("the DINOv2 scorer embeds images only; a request carried texts")
        keys = [[image_key(im) for im in r.images] for r in requests]
        unique: dict[bytes, np.ndarray] = {}
        for r, ks in zip(requests, keys):
            unique.update((k, im) for k, im in zip(ks, r.images) if k not in unique)
        order = list(unique)
        empty = np.zeros((0, self.dim), np.float32)
        embedded = self.embed_images([unique[k] for k in order]) if order else empty
        row = {k: i for i, k in enumerate(order)}
        return [Embeddings(images=embedded[[row[k] for k in ks]] if ks else empty, texts=empty)
                for ks in keys]


class DinoHandler(Handler):
    family = "dino"
    cfg: DinoConfig

    def config_problem(self, model: ModelRef, config: dict) -> str | None:
        if not str(config.get("model_type", "")).startswith("dinov2"):
            return f"found {found_as(config)}; {model.key} needs a DINOv2 backbone (model_type dinov2)"
        return None

    def model_refs(self) -> list[ModelRef]:
        return [ModelRef("quality.dino.model", self.cfg.model, "transformers")]

    def build(self, device: str, dtype: str) -> DinoScorer:
        import torch
        from transformers import AutoImageProcessor, Dinov2Model
        model = Dinov2Model.from_pretrained(self.cfg.model, dtype=getattr(torch, dtype),
                                            trust_remote_code=self.cfg.trust_remote_code)
        processor = AutoImageProcessor.from_pretrained(self.cfg.model, trust_remote_code=self.cfg.trust_remote_code)
        return DinoScorer(model.eval().to(device), processor, device)
