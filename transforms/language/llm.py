"""Instruct stage with an LLM: PIPE's few-shot rewrite of the object's description into an instruction.

The class templates of ``transforms.language.templates`` are always written too; the LLM's answer becomes
``instructions['vlm_llm']`` when it is usable (one printable line of 2..max_words words), otherwise the
class template takes its place and ``meta['instruction_llm']`` says so and why.
"""
from __future__ import annotations

import re
from operator import attrgetter

from configs.schema import InstructionsConfig
from model_wrappers.locate import record_models
from model_wrappers.types import ChatRequest
from transforms.core.records import Candidate
from transforms.core.stage import ModelStep
from transforms.core.text import one_line, with_article
from transforms.language.templates import template_instructions

STAGE = "instruct"
_LABEL = re.compile(r"^(instruction|answer|output|assistant)\s*:\s*", re.IGNORECASE)


def llm_messages(c: Candidate, cfg: InstructionsConfig) -> list[dict[str, str]]:
    """Few-shot turns (user prompt / assistant instruction) then the question about ``c``."""
    name = c.class_name.replace("_", " ").strip()
    return chat(cfg, c.meta.get("description") or with_article(name), name)


# A description of a typical length (VLM answers are capped by describe.vlm.max_new_tokens), for the check
# at start that the prompt fits the model's context (pipelines/chain.py).
TYPICAL = ("a red vintage car with chrome bumpers parked on the left side of a narrow cobbled street", "car")


def chat(cfg: InstructionsConfig, caption: str, name: str) -> list[dict[str, str]]:
    p = cfg.llm.prompt
    messages = []
    for ex in cfg.llm.few_shot:
        messages.append({"role": "user", "content": p.format(caption=ex.caption, **{"class": ex.name})})
        messages.append({"role": "assistant", "content": ex.instruction})
    messages.append({"role": "user", "content": p.format(caption=caption, **{"class": name})})
    return messages


def llm_request(c: Candidate, cfg: InstructionsConfig) -> tuple[Candidate, ChatRequest]:
    return c, ChatRequest(messages=llm_messages(c, cfg))


def clean_instruction(text: str, max_words: int) -> tuple[str, str]:
    """(one-line instruction, '') when usable, else ('', reason): empty | unprintable | too_short | too_long."""
    line = _LABEL.sub("", one_line(text)).strip().strip("\"'").rstrip(".").strip()
    if not line:
        return "", "empty"
    if not line.isprintable() or "\ufffd" in line or not any(ch.isalpha() for ch in line):
        return "", "unprintable"
    words = len(line.split())
    if words < 2:
        return "", "too_short"
    if words > max_words:
        return "", "too_long"
    return line, ""


def store_instruction(c: Candidate, text: str, cfg: InstructionsConfig) -> Candidate:
    """Class templates plus ``vlm_llm`` (the LLM's line, or the 'add' template as the recorded fallback)."""
    template_instructions(c, cfg)
    line, reason = clean_instruction(text, cfg.llm.max_words)
    c.instructions["vlm_llm"] = line or c.instructions["add"]
    c.meta["instructions_kind"] = "llm"
    c.meta["instruction_llm"] = {"model": cfg.llm.model, "raw": str(text)[:300], "fallback": bool(reason),
                                 "reason": reason}
    record_models(c.meta, "instructions", cfg.llm.model)
    return c


LLM = ModelStep(llm_request, store_instruction, "llm", attrgetter("llm"))
