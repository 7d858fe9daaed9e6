"""CLIP scorer: transformers ``CLIPModel`` image and text embeddings, unit length, for the quality stages.

One call embeds a whole RunInference batch: identical images (same bytes) are embedded once, and text
embeddings are kept in a bounded cache (class prompts repeat across elements), so each image of an element
is embedded once per stage. Scores are cosines of the returned embeddings, computed by the stages.
"""
from __future__ import annotations

import hashlib

import numpy as np

from configs.schema import ClipConfig
from model_wrappers.base import Handler
from model_wrappers.types import Embeddings, EmbedRequest
from model_wrappers.locate import ModelRef, found_as

TEXT_CACHE = 4096   # distinct texts kept (a vocabulary's prompts); the cache is emptied when full


def image_key(image: np.ndarray) -> bytes:
    """Content key of an HxWx3 uint8 image (same bytes and shape -> same key)."""
    h = hashlib.blake2b(np.ascontiguousarray(image).tobytes(), digest_size=16)
    h.update(str(image.shape).encode())
    return h.digest()


def projected(output) -> "torch.Tensor":  # noqa: F821 - torch is imported lazily
    """The projected embedding of get_image/text_features: a tensor (transformers 4) or an output object
    whose ``pooler_output`` holds it (transformers 5)."""
    return output if hasattr(output, "norm") else output.pooler_output


def unit(x: np.ndarray) -> np.ndarray:
    """Rows of an NxD array scaled to length 1 (zero rows stay zero)."""
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.maximum(norms, 1e-12)).astype(np.float32)


class ClipScorer:
    """The loaded runner: ``predict([EmbedRequest]) -> [Embeddings]``."""

    def __init__(self, model, processor, device: str):
        self.model, self.processor, self.device = model, processor, device
        self.dtype = next(model.parameters()).dtype
        self.texts: dict[str, np.ndarray] = {}

    def embed_images(self, images: list[np.ndarray]) -> np.ndarray:
        """N HxWx3 uint8 images -> NxD unit embeddings (one forward pass)."""
        import torch
        from PIL import Image
        inputs = self.processor(images=[Image.fromarray(im) for im in images], return_tensors="pt")
        pixels = inputs["pixel_values"].to(self.device, self.dtype)
        with torch.inference_mode():
            out = projected(self.model.get_image_features(pixel_values=pixels))
        return unit(out.float().cpu().numpy())

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        """M texts -> MxD unit embeddings, cached by text."""
        import torch
        todo = sorted({t for t in texts if t not in self.texts})
        if todo:
            if len(self.texts) + len(todo) > TEXT_CACHE:
                self.texts.clear()
            out = []
            for text in todo:  # one text per call: a cached embedding is the one the text gets alone
                inputs = self.processor(text=[text], truncation=True, return_tensors="pt")
                with torch.inference_mode():
                    out.append(projected(self.model.get_text_features(
                        input_ids=inputs["input_ids"].to(self.device),
                        attention_mask=inputs["attention_mask"].to(self.device))).float().cpu().numpy())
            self.texts.update(zip(todo, unit(np.concatenate(out))))
        dim = self.model.config.projection_dim
        return np.stack([self.texts[t] for t in texts]) if texts else np.zeros((0, dim), np.float32)

    def predict(self, requests: list[EmbedRequest]) -> list[Embeddings]:
        keys = [[image_key(im) for im in r.images] for r in requests]
        unique: dict[bytes, np.ndarray] = {}
        for r, ks in zip(requests, keys):
            unique.update((k, im) for k, im in zip(ks, r.images) if k not in unique)
        order = list(unique)
        dim = self.model.config.projection_dim
        embedded = self.embed_images([unique[k] for k in order]) if order else np.zeros((0, dim), np.float32)
        row = {k: i for i, k in enumerate(order)}
        text_rows = self.embed_texts([t for r in requests for t in r.texts])
        out, start = [], 0
        for r, ks in zip(requests, keys):
            images = embedded[[row[k] for k in ks]] if ks else np.zeros((0, dim), np.float32)
            out.append(Embeddings(images=images, texts=text_rows[start: start + len(r.texts)]))
            start += len(r.texts)
        return out


class ClipHandler(Handler):
    family = "clip"
    cfg: ClipConfig

    def config_problem(self, model: ModelRef, config: dict) -> str | None:
        if config.get("model_type") != "clip":
            return f"found {found_as(config)}; {model.key} needs a CLIP model (model_type clip, e.g. CLIPModel)"
        return None

    def model_refs(self) -> list[ModelRef]:
        return [ModelRef("quality.clip.model", self.cfg.model, "transformers")]

    def build(self, device: str, dtype: str) -> ClipScorer:
        import torch
        from transformers import CLIPModel, CLIPProcessor
        model = CLIPModel.from_pretrained(self.cfg.model, dtype=getattr(torch, dtype),
                                          trust_remote_code=self.cfg.trust_remote_code)
        processor = CLIPProcessor.from_pretrained(self.cfg.model, trust_remote_code=self.cfg.trust_remote_code)
        return ClipScorer(model.eval().to(device), processor, device)
