"""LLM rewrite of a description into an instruction: transformers' text-generation pipeline on chats.

The model must have a chat template (an instruct model); the conversation (few-shot turns, then the
question) is built by the instruct stage. Decoding is greedy; the raw text is returned for the stage to clean.
"""
from __future__ import annotations

from configs.schema import LlmConfig
from model_wrappers.base import Handler
from model_wrappers.locate import ModelRef, found_as, has_chat_template, locate
from model_wrappers.types import ChatRequest
from model_wrappers.vlm import generated_text


class Rewriter:
    """The loaded runner: ``predict([ChatRequest]) -> [str]`` (the assistant's reply, one per request)."""

    def __init__(self, pipe, cfg: LlmConfig):
        self.pipe, self.cfg = pipe, cfg

    def predict(self, requests: list[ChatRequest]) -> list[str]:
        outputs = self.pipe([r.messages for r in requests], batch_size=len(requests), return_full_text=False,
                            max_new_tokens=self.cfg.max_new_tokens, do_sample=False)
        return [generated_text(o) for o in outputs]


class LlmHandler(Handler):
    family = "llm"
    cfg: LlmConfig

    def config_problem(self, model: ModelRef, config: dict) -> str | None:
        from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES as LMS
        if config.get("model_type") not in LMS:
            return (f"found {found_as(config)}; {model.key} needs a causal language model with a chat template "
                    f"(an instruct/chat LLM such as Mistral-7B-Instruct)")
        folder = locate(model).path
        if not has_chat_template(folder):
            return f"found {found_as(config)} without a chat template; {model.key} needs an instruct/chat model"
        return None

    def model_refs(self) -> list[ModelRef]:
        return [ModelRef("instructions.llm.model", self.cfg.model, "transformers")]

    def build(self, device: str, dtype: str) -> Rewriter:
        import torch
        from transformers import pipeline
        pipe = pipeline("text-generation", model=self.cfg.model, device=device, dtype=getattr(torch, dtype),
                        trust_remote_code=self.cfg.trust_remote_code)
        tok = pipe.tokenizer
        if not getattr(tok, "chat_template", None):
            raise ValueError(f"{self.cfg.model} has no chat template; instructions.llm.model must be an "
                             f"instruct/chat model")
        tok.padding_side = "left"
        if tok.pad_token is None:
            tok.pad_token = tok.eos_token
        return Rewriter(pipe, self.cfg)
