"""The one stage order, and the chain of a config: which function or model runs at each stage.

``stages()`` is the only order of stages in the project, each with the config section that drives it; the
funnel, the report and the dataset card read it. ``stage_chain`` picks each stage's variant from its
role's registry (transforms/<role>/__init__.py) by the config's ``kind``, checked against the registry's
keys with a message naming the key; the output format says which stages it keeps, what it runs instead
at a stage, and its encoder, the last stage.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from configs.schema import Config, ConfigError
from transforms.core.stage import ModelStep
from transforms.formats import FORMATS
from transforms.language import DESCRIBERS, INSTRUCTORS
from transforms.language.llm import TYPICAL, chat
from transforms.maskers import MASKERS
from transforms.maskers.donors import donor_step
from transforms.quality import QUALITY, quality_step
from transforms.removers import REMOVERS
from transforms.stages.blend import blend
from transforms.stages.filter import filter_candidates
from transforms.stages.load import load_image

if TYPE_CHECKING:
    from model_wrappers.base import Handler

# (stage, the config section that drives it) of the stages every chain may run, in pipeline order. 'read'
# counts what the plan rejected and 'write' what reached the shard writer. The quality checks are not listed:
# each declares the stage it runs after (transforms/quality/), and ``stages()`` puts it there.
BASE_STAGES = (
    ("read", "source"), ("load", "image"), ("propose", "masks"), ("filter", "filters"), ("remove", "removal"),
    ("blend", "removal"), ("describe", "describe"), ("instruct", "instructions"), ("encode", "output"),
    ("write", ""),   # the shard writer has no settings
)
DONOR_STAGE = "donors"   # the model pass of BrushData-v2 with model donors, before 'load' (not a funnel stage)


def stages() -> tuple[tuple[str, str], ...]:
    """(stage, its config section) of every stage in pipeline order: BASE_STAGES with each quality check
    after the stage it declares, after the checks of QUALITY before it that declare the same stage."""
    found = list(BASE_STAGES)
    for name, step in QUALITY.items():
        at = [s for s, _ in found].index(step.after) + 1
        while at < len(found) and found[at][0] in QUALITY and QUALITY[found[at][0]].after == step.after:
            at += 1
        found.insert(at, (name, "quality"))
    return tuple(found)


def order() -> tuple[str, ...]:
    """The stage names in pipeline order."""
    return tuple(name for name, _ in stages())


def section_of(stage: str) -> str | None:
    """The config section that drives ``stage`` ('' for the shard writer), None for a name no stage has."""
    return dict(stages()).get(stage)


Chain = list[tuple[str, Callable | ModelStep, object]]


def pick(registry: dict, key: str, name: str):
    """``registry[name]``, or a ConfigError naming ``key`` and the allowed names."""
    if name not in registry:
        raise ConfigError(f"{key}: {name!r} is not allowed; choose one of {', '.join(registry)}")
    return registry[name]


def stage_chain(cfg: Config) -> Chain:
    """(stage name, pure function or ModelStep, its config) in pipeline order, as the output format runs it;
    stages set to none are left out."""
    fmt = pick(FORMATS, "output.format", cfg.output.format)
    for name in cfg.quality.stages:
        pick(QUALITY, "quality.stages", name)
    picked = {
        "load": (load_image, cfg.image),
        "propose": (pick(MASKERS, "masks.kind", cfg.masks.kind), cfg),
        "filter": (filter_candidates, cfg.filters),
        **{name: (quality_step(cfg.quality, name), cfg.quality) for name in QUALITY},
        "remove": (pick(REMOVERS, "removal.kind", cfg.removal.kind), cfg.removal),
        "blend": (blend, cfg.removal),
        "describe": (pick(DESCRIBERS, "describe.kind", cfg.describe.kind), cfg.describe),
        "instruct": (pick(INSTRUCTORS, "instructions.kind", cfg.instructions.kind), cfg.instructions),
    }
    kept = [name for name in order() if name in picked and (fmt.runs is None or name in fmt.runs)]
    chain = [(name, fmt.replaces.get(name, picked[name][0]), picked[name][1]) for name in kept]
    return [stage for stage in chain if stage[1] is not None] + [("encode", fmt.encode, cfg)]


def model_handlers(cfg: Config, chain: Chain | None = None) -> list[tuple[str, Handler]]:
    """(stage, ModelHandler) of every model stage of the chain (``stage_chain(cfg)`` unless the caller has
    it already) and of the donor pass, configured but not loaded."""
    chain = stage_chain(cfg) if chain is None else chain
    steps = [(name, fn, section) for name, fn, section in chain if isinstance(fn, ModelStep)]
    donors = donor_step(cfg)   # BrushData-v2's first pass, before the chain (pipelines/build.py)
    if donors is not None:
        steps.insert(0, (DONOR_STAGE, donors, cfg))
    if not steps:
        return []
    # Imported only when a model stage runs: the handlers import Beam's RunInference, which imports torch.
    from model_wrappers.registry import build_handler
    return [(name, build_handler(fn.family, fn.section(section))) for name, fn, section in steps]


def require_models(cfg: Config, log: Callable = print, chain: Chain | None = None) -> None:
    """Stop before any work when a model the chain needs is missing (named, with where to get it)."""
    handlers = model_handlers(cfg, chain)
    if not handlers:
        return
    from model_wrappers.registry import model_status  # torch, as above
    rows = model_status(handlers)
    bad = [r for r in rows if r.blocking]
    if bad:
        hint = " (pip install 'inpaint-pairs[models]')" if any(r.missing_packages for r in bad) else ""
        raise ConfigError(f"{len(bad)} model(s) cannot be loaded{hint}:\n" + "\n".join(r.line() for r in bad))
    for r in rows:
        if r.model.key == "instructions.llm.model" and r.where.found:
            check_prompt_fits(cfg, r.where.path)
        if r.where.status == "not_cached":
            log(f"note: {r.model.key} {r.model.ref!r} is not in the local hub cache; each worker downloads it "
                f"on first load (set HF_HUB_OFFLINE=1 to refuse instead)")


def check_prompt_fits(cfg: Config, folder: str) -> None:
    """Stop before any work when the LLM's few-shot prompt (with a typical description) and its answer do
    not fit the model's context: the model would see a truncated prompt or fail on every element."""
    from transformers import AutoConfig, AutoTokenizer   # the tokenizer and config only: no weights
    llm = cfg.instructions.llm
    tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=llm.trust_remote_code)
    ids = tokenizer.apply_chat_template(chat(cfg.instructions, *TYPICAL), add_generation_prompt=True, tokenize=True)
    ids = ids["input_ids"] if isinstance(ids, dict) or hasattr(ids, "keys") else ids
    config = AutoConfig.from_pretrained(folder, trust_remote_code=llm.trust_remote_code)
    limits = [v for v in (getattr(config, "max_position_embeddings", None), tokenizer.model_max_length)
              if isinstance(v, int) and 0 < v < 10**7]
    if limits and len(ids) + llm.max_new_tokens > min(limits):
        raise ConfigError(f"instructions.llm: the {len(llm.few_shot)}-shot prompt takes {len(ids)} tokens and the "
                          f"answer up to {llm.max_new_tokens} (instructions.llm.max_new_tokens), more than the "
                          f"{min(limits)} tokens of context of {llm.model}; use fewer instructions.llm.few_shot "
                          f"examples, a shorter instructions.llm.prompt, or a model with a longer context")
