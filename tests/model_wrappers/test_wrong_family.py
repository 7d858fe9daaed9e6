"""A model of the wrong family or task is refused before any work, from its config alone
(``inpaint-pairs check`` and the start of ``build``), with one line per model: the key, the path, what was
found and what the stage needs. Tiny models saved in the standard layouts stand in for the real ones."""
from __future__ import annotations

import json
import os
import shutil

import pytest

from configs.schema import ConfigError, load_config
from helpers import DEMO_DATA, ROOT
from pipelines import cli
from pipelines.chain import require_models

PIPE_COCO = os.path.join(ROOT, "configs", "pipe_coco.yaml")

CASES = [  # key, the wrong tiny model, what the line must say was found, what it must say is needed
    ("describe.vlm.model", "clip", "found clip (CLIPModel)", "needs an image-text-to-text model"),
    ("instructions.llm.model", "blip", "found blip (BlipForConditionalGeneration)", "needs a causal language model"),
    ("quality.clip.model", "dino", "found dinov2 (Dinov2Model)", "needs a CLIP model"),
    ("quality.dino.model", "clip", "found clip (CLIPModel)", "needs a DINOv2 backbone"),
    ("removal.diffusion.model", "llava", None, None),   # no model_index.json: 'missing', as before
    ("masks.diffedit.model", "sd", "found StableDiffusionInpaintPipeline", "needs a Stable Diffusion text-to-image"),
    ("masks.grounding.sam_model", "grounding_dino", "found grounding-dino", "needs a transformers SAM model"),
]
STAGES = {"quality.dino.model": ["quality.stages=[clip_prefilter, consensus, removal_score, importance, "
                                 "importance_dino]"],
          "masks.diffedit.model": ["masks.kind=diffedit"],
          "masks.grounding.sam_model": ["masks.kind=grounded_sam", "masks.grounding.prompt_source=categories"]}


def _sets(tiny: dict, key: str, wrong: str) -> list[str]:
    right = {"describe.vlm.model": tiny["blip"], "instructions.llm.model": tiny["llm"],
             "quality.clip.model": tiny["clip"], "removal.diffusion.model": tiny["sd"],
             "quality.dino.model": tiny["dino"], "masks.diffedit.model": tiny["sd_t2i"],
             "masks.grounding.model": tiny["grounding_dino"], "masks.grounding.sam_model": tiny["hf_sam"]}
    return [f"{k}={tiny[wrong] if k == key else v}" for k, v in right.items()] + STAGES.get(key, []) + [
        f"source.annotations={DEMO_DATA}/instances.json", f"source.images={DEMO_DATA}/images"]


@pytest.mark.parametrize("key, wrong, found, needed", CASES)
def test_check_and_build_refuse_a_model_of_the_wrong_family(tiny, key, wrong, found, needed, capsys, tmp_path):
    sets = _sets(tiny, key, wrong)
    assert cli.main(["check", "--config", PIPE_COCO, *[a for s in sets for a in ("--set", s)]]) == 2
    printed = capsys.readouterr()
    bad = [line for line in printed.out.splitlines() if f"{key} " in line and ("wrong_model" in line or "missing" in line)]
    assert bad and tiny[wrong] in bad[0], printed
    if found:
        hint = printed.out.splitlines()[printed.out.splitlines().index(bad[0]) + 1]
        assert found in hint and key in hint and needed in hint
    out = str(tmp_path / "out")
    assert cli.main(["build", "--config", PIPE_COCO, "--output", out, *[a for s in sets for a in ("--set", s)]]) == 2
    err = capsys.readouterr().err
    assert "cannot be loaded" in err and key in err and "Traceback" not in err and not os.path.exists(out)


@pytest.mark.parametrize("key", sorted(STAGES) + [None])
def test_the_right_models_pass(tiny, key):
    require_models(load_config(PIPE_COCO, [*_sets(tiny, None, "clip"), *STAGES.get(key, [])]), log=lambda *_: None)


def test_an_llm_without_a_chat_template_is_refused_from_its_files(tiny, tmp_path):
    folder = str(tmp_path / "llm")
    shutil.copytree(tiny["llm"], folder)
    for name in ("chat_template.jinja", "chat_template.json"):
        if os.path.exists(os.path.join(folder, name)):
            os.remove(os.path.join(folder, name))
    path = os.path.join(folder, "tokenizer_config.json")
    config = json.load(open(path))
    config.pop("chat_template", None)
    json.dump(config, open(path, "w"))
    sets = [s if not s.startswith("instructions.llm.model=") else f"instructions.llm.model={folder}"
            for s in _sets(tiny, None, "clip")]
    with pytest.raises(ConfigError, match="without a chat template; instructions.llm.model needs an instruct/chat"):
        require_models(load_config(PIPE_COCO, sets), log=lambda *_: None)


def test_a_few_shot_prompt_longer_than_the_llms_context_is_refused_at_start(tiny, tmp_path, capsys):
    """The 5-shot prompt never met the model's context length (a '>512 tokens' warning scrolled by): a tiny
    LLM saved with 512 positions is refused by build before any stage runs, naming the counts and the fix."""
    folder = str(tmp_path / "llm512")
    shutil.copytree(tiny["llm"], folder)
    path = os.path.join(folder, "config.json")
    json.dump({**json.load(open(path)), "max_position_embeddings": 512}, open(path, "w"))
    sets = [s if not s.startswith("instructions.llm.model=") else f"instructions.llm.model={folder}"
            for s in _sets(tiny, None, "clip")]
    out = str(tmp_path / "out")
    assert cli.main(["build", "--config", PIPE_COCO, "--output", out, *[a for s in sets for a in ("--set", s)]]) == 2
    err = capsys.readouterr().err
    assert "instructions.llm: the 5-shot prompt takes" in err and "more than the 512 tokens of context" in err
    assert "fewer instructions.llm.few_shot examples" in err and not os.path.exists(out)
    require_models(load_config(PIPE_COCO, [*sets, "instructions.llm.few_shot=[]", "instructions.llm.max_new_tokens=4"]),
                   log=lambda *_: None)   # without the examples the question alone fits
