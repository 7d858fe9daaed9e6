"""The configs package's layout: MODEL_KEYS derived from the dataclasses, names kept, no import cycle."""
from __future__ import annotations

import dataclasses
import subprocess
import sys
from typing import get_type_hints

import pytest

import configs.schema as schema
from configs.schema import MODEL_KEYS, Config, ModelConfig
from configs.schema.base import Section, name_sections
from helpers import ROOT

# The hand-kept list MODEL_KEYS was before it was derived from Config (configs/schema/base.py model_keys).
MODEL_KEYS_BEFORE = ("masks.sam.model", "masks.grounding.model", "masks.grounding.sam_model",
                     "masks.diffedit.model",
                     "removal.diffusion.model", "describe.vlm.model", "instructions.llm.model", "quality.clip.model",
                     "quality.dino.model")


def test_derived_model_keys_are_the_hand_kept_list_in_its_order():
    assert isinstance(MODEL_KEYS, tuple)
    assert MODEL_KEYS == MODEL_KEYS_BEFORE


def _sections(cls=Config, prefix=""):
    hints = get_type_hints(cls)
    for f in dataclasses.fields(cls):
        kind, key = hints[f.name], f"{prefix}.{f.name}" if prefix else f.name
        if dataclasses.is_dataclass(kind):
            yield key, kind
            yield from _sections(kind, key)


def test_every_section_names_its_place_in_the_config():
    """``_KEY`` words the section's messages (model_wrappers' too); it must be where the section sits in Config."""
    sections = dict(_sections())
    assert sum(issubclass(cls, ModelConfig) for cls in sections.values()) == 8
    for key, cls in sections.items():
        assert isinstance(cls(), Section) and cls._KEY == key, cls.__name__
    assert ModelConfig._KEY == "model"   # a bare ModelConfig (benchmarks build one)


def test_a_section_class_placed_twice_is_refused():
    """Its messages could name only one of its places."""
    @dataclasses.dataclass(frozen=True)
    class Twice:
        a: schema.BrushConfig = dataclasses.field(default_factory=schema.BrushConfig)
        b: schema.BrushConfig = dataclasses.field(default_factory=schema.BrushConfig)

    with pytest.raises(TypeError, match="BrushConfig sits at both"):
        name_sections(Twice, "masks")   # a: masks.a is not masks.brush


# Every name the code base, the tests and the README import from configs.schema.
IMPORTED = ("BrushConfig", "ClipConfig", "Config", "ConfigError", "DescribeConfig", "DiffusionConfig", "DinoConfig",
            "FetchConfig", "FilterConfig", "GroundingConfig", "ImageConfig", "InstructionsConfig", "LlmConfig",
            "ModelConfig", "PATH_KEYS", "PATH_WORDS", "QualityConfig", "RemovalConfig", "SamConfig",
            "SourceConfig", "VlmConfig", "dump_yaml", "same_as_recorded", "is_local_model", "load_config", "to_dict",
            "MODEL_KEYS", "source_items", "source_paths",
            "OutputConfig", "MasksConfig", "FewShot", "PIPE_FEW_SHOT",
            "DEVICE", "DTYPES", "HUB_ID", "ExemplarConfig", "BorrowConfig", "DiffEditConfig")


def test_every_public_name_is_importable_from_configs_schema():
    missing = [name for name in IMPORTED if not hasattr(schema, name)]
    assert not missing
    assert set(schema.__all__) == set(IMPORTED)


@pytest.mark.parametrize("module", ["configs.errors", "configs.loader", "configs.schema", "configs.schema.base",
                                    "configs.schema.source", "configs.schema.image", "configs.schema.models",
                                    "configs.schema.stages", "configs.reference"])
def test_each_module_imports_first_in_a_fresh_process(module):
    """No import cycle: whichever module a process imports first, it loads."""
    code = f"import {module}, configs.loader, configs.schema"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_the_loader_imports_no_section():
    """configs/loader.py is generic: the schema imports it, never the other way round."""
    code = "import sys, configs.loader; assert not any(m.startswith('configs.schema') for m in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
