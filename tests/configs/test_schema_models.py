"""The model sections of the config: defaults, paths vs hub ids, and errors that name the key."""
from __future__ import annotations

import os

import pytest

from configs.schema import ConfigError, load_config
from helpers import DEMO_CONFIG, ROOT

PIPE_COCO = os.path.join(ROOT, "configs", "pipe_coco.yaml")


def test_defaults_are_pipes_settings_and_the_cpu_default_uses_no_model():
    cfg = load_config(DEMO_CONFIG)
    assert (cfg.masks.kind, cfg.removal.kind, cfg.describe.kind, cfg.instructions.kind) == \
        ("annotations", "opencv", "none", "template")
    d = cfg.removal.diffusion
    assert (d.steps, d.candidates, d.device, d.dtype) == (10, 3, "auto", "auto")
    g = cfg.masks.grounding
    assert (g.box_threshold, g.text_threshold) == (0.3, 0.25)
    assert len(cfg.instructions.llm.few_shot) == 5 and not cfg.instructions.llm.trust_remote_code


def test_pipe_recipe_loads_with_hub_ids_and_takes_local_stand_ins(tmp_path, monkeypatch):
    cfg = load_config(PIPE_COCO)
    assert cfg.removal.diffusion.model == "stable-diffusion-v1-5/stable-diffusion-inpainting"
    assert (cfg.removal.kind, cfg.describe.kind, cfg.instructions.kind, cfg.instructions.txt) == \
        ("diffusion", "vlm", "llm", "vlm_llm")
    monkeypatch.chdir(tmp_path)
    cfg = load_config(PIPE_COCO, ["describe.vlm.model=./models/blip", "instructions.llm.model=~/llm"])
    assert cfg.describe.vlm.model == str(tmp_path / "models" / "blip")
    assert cfg.instructions.llm.model == os.path.expanduser("~/llm")


def test_local_model_paths_in_a_yaml_file_are_relative_to_it(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("removal:\n  kind: diffusion\n  diffusion:\n    model: ./sd\n")
    assert load_config(str(recipe)).removal.diffusion.model == str(tmp_path / "sd")


@pytest.mark.parametrize("override, words", [
    ("removal.diffusion.model=not a model", ["removal.diffusion.model", "hub id"]),
    ("describe.vlm.device=gpu", ["describe.vlm.device", "cuda:N"]),
    ("instructions.llm.dtype=int8", ["instructions.llm.dtype", "bfloat16"]),
    ("removal.diffusion.size=100", ["removal.diffusion.size", "multiple of 8"]),
    ("removal.diffusion.negative_prompt=a {klass}", ["removal.diffusion.negative_prompt", "{klass}", "{a_class}"]),
    ("describe.vlm.prompt=the {caption}", ["describe.vlm.prompt", "{caption}"]),
    ("masks.sam.pred_iou_thresh=1.5", ["masks.sam.pred_iou_thresh", "0.0 to 1.0"]),
    ("masks.grounding.box_thresh=0.3", ["masks.grounding.box_thresh", "box_threshold"]),
    ("masks.grounding.prompts=[a.b]", ["masks.grounding.prompts", "dots"]),
    ("instructions.llm.few_shot=[{caption: a, name: b}]", ["instructions.llm.few_shot[0]", "instruction"]),
    ("instructions.llm.few_shot=[{caption: a, name: b, instruction: c, x: 1}]", ["few_shot[0].x"]),
    ("instructions.llm.batch_size=0", ["instructions.llm.batch_size"]),
    ("instructions.txt=vlm_llm", ["instructions.txt", "instructions.kind llm"]),
])
def test_bad_model_settings_name_the_key(override, words):
    with pytest.raises(ConfigError) as e:
        load_config(DEMO_CONFIG, [override])
    for w in words:
        assert w in str(e.value)


@pytest.mark.parametrize("key", ["masks.kind", "removal.kind", "describe.kind", "instructions.kind"])
def test_every_stage_kind_is_a_registry_name(key):
    from pipelines.chain import stage_chain
    with pytest.raises(ConfigError, match=f"{key}: 'psychic' is not allowed"):
        stage_chain(load_config(DEMO_CONFIG, [f"{key}=psychic"]))


def test_grounded_sam_needs_prompts_unless_they_come_from_the_image():
    with pytest.raises(ConfigError, match="masks.grounding.prompts"):
        load_config(DEMO_CONFIG, ["masks.kind=grounded_sam"])
    assert load_config(DEMO_CONFIG, ["masks.kind=grounded_sam", "masks.grounding.prompt_source=categories"])


def test_an_unknown_sam_architecture_stops_the_run_before_any_work():
    """The SAM architectures are model_wrappers/sam.py's knowledge: the handler, built before any work by
    ``build`` and ``check``, refuses a model_type it does not know."""
    from pipelines.chain import model_handlers
    with pytest.raises(ConfigError) as e:
        model_handlers(load_config(DEMO_CONFIG, ["masks.kind=sam", "masks.sam.model_type=vit_x"]))
    assert "masks.sam.model_type" in str(e.value) and "vit_h" in str(e.value) and "vit_tiny" in str(e.value)

