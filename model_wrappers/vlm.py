"""VLM description of an object: transformers' image-text-to-text pipeline.

Chat VLMs (LLaVA, Qwen2-VL class: the processor has a chat template) get one user turn with the image and
the prompt. Captioners without a chat template (BLIP class) get the image and continue ``prefix``.
Decoding is greedy, so a description is reproducible.
"""
from __future__ import annotations

from configs.schema import VlmConfig
from model_wrappers.base import Handler
from model_wrappers.locate import ModelRef, found_as
from model_wrappers.types import DescribeRequest


def generated_text(output) -> str:
    """The new text of one pipeline output (chat outputs come wrapped in a one-item list)."""
    first = output[0] if isinstance(output, list) else output
    text = first["generated_text"]
    return text if isinstance(text, str) else text[-1]["content"]


class Describer:
    """The loaded runner: ``predict([DescribeRequest]) -> [str]`` (raw model text, one per request)."""

    def __init__(self, pipe, cfg: VlmConfig):
        self.pipe, self.cfg = pipe, cfg
        self.chat = bool(getattr(pipe.processor, "chat_template", None))

    def predict(self, requests: list[DescribeRequest]) -> list[str]:
        from PIL import Image
        images = [Image.fromarray(r.image) for r in requests]
        gen = {"generate_kwargs": {"max_new_tokens": self.cfg.max_new_tokens, "do_sample": False},
               "batch_size": len(requests), "return_full_text": False}
        if self.chat:
            chats = [[{"role": "user", "content": [{"type": "image", "image": im},
                                                   {"type": "text", "text": r.prompt}]}]
                     for im, r in zip(images, requests)]
            return [generated_text(o) for o in self.pipe(text=chats, **gen)]
        # A captioner's rows with a prefix and those without go in separate calls: an empty prefix padded
        # to its companions' length is not the empty prefix (a run has one caption_prefix for all rows)
        answers: list = [None] * len(requests)
        for group in ([i for i, r in enumerate(requests) if r.prefix], [i for i, r in enumerate(requests)
                                                                        if not r.prefix]):
            if group:
                outputs = self.pipe(images=[images[i] for i in group], text=[requests[i].prefix for i in group],
                                    **{**gen, "batch_size": len(group)})
                for i, o in zip(group, outputs):
                    answers[i] = generated_text(o)
        return answers


class VlmHandler(Handler):
    family = "vlm"
    cfg: VlmConfig

    def config_problem(self, model: ModelRef, config: dict) -> str | None:
        from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES as VLMS
        if config.get("model_type") not in VLMS:
            return (f"found {found_as(config)}; {model.key} needs an image-text-to-text model (a chat VLM such as "
                    f"LLaVA or Qwen2-VL, or a BLIP captioner)")
        return None

    def model_refs(self) -> list[ModelRef]:
        return [ModelRef("describe.vlm.model", self.cfg.model, "transformers")]

    def build(self, device: str, dtype: str) -> Describer:
        import torch
        from transformers import pipeline
        pipe = pipeline("image-text-to-text", model=self.cfg.model, device=device, dtype=getattr(torch, dtype),
                        trust_remote_code=self.cfg.trust_remote_code)
        tokenizer = getattr(pipe.processor, "tokenizer", None)
        if tokenizer is not None:
            tokenizer.padding_side = "left"   # a batch's rows generate after their own prompt's end
        return Describer(pipe, self.cfg)
