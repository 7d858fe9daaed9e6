"""The run configuration: YAML -> frozen, self-checking dataclasses.

Every section checks itself in ``__post_init__`` and names the bad key (``filters.min_area_ratio``) and what
is allowed: each field's rule (``between``, ``one_of``, ``placeholders``, configs/schema/base.py) under the
section's dotted key, which ``name_sections(Config)`` derives from where Config places the section. Unknown
keys are errors. Paths written in a YAML file are relative to that file's folder; paths given with ``--set``
are relative to the current directory.

This package holds the sections; the generic YAML / ``--set`` machinery is configs/loader.py. Here: the
top-level ``Config``, ``MODEL_KEYS`` (derived from it), ``load_config`` (the loader bound to ``Config`` and its
path and model keys) and the re-exports, so every name is imported from ``configs.schema``:

- base.py: ConfigError, the checks (_choice, _range, _placeholders), the field rules, Section and
  name_sections, is_local_model, ModelConfig;
- source.py: SourceConfig, PATH_KEYS, PATH_WORDS, source_items, source_paths;
- image.py: FetchConfig, ImageConfig;
- models.py: the ModelConfig sections (SamConfig ... DinoConfig), FewShot, PIPE_FEW_SHOT;
- stages.py: the stage sections (MasksConfig ... OutputConfig).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from configs.loader import RefKeys, dump_yaml, load, same_as_recorded, to_dict
from configs.schema.base import (DEVICE, DTYPES, HUB_ID, ConfigError, ModelConfig, is_local_model, model_keys,
                                 name_sections)
from configs.schema.image import FetchConfig, ImageConfig
from configs.schema.models import (PIPE_FEW_SHOT, ClipConfig, DiffEditConfig, DiffusionConfig, DinoConfig, FewShot,
                                   GroundingConfig, LlmConfig, SamConfig, VlmConfig)
from configs.schema.source import PATH_KEYS, PATH_WORDS, SourceConfig, source_items, source_paths
from configs.schema.stages import (BorrowConfig, BrushConfig, DescribeConfig,
                                   ExemplarConfig, FilterConfig, InstructionsConfig, MasksConfig, OutputConfig,
                                   QualityConfig, RemovalConfig)

__all__ = [
    "Config", "ConfigError", "load_config", "dump_yaml", "same_as_recorded", "to_dict", "MODEL_KEYS", "PATH_KEYS",
    "PATH_WORDS", "source_items", "source_paths",
    "is_local_model", "ModelConfig", "DEVICE", "DTYPES", "HUB_ID",
    "PIPE_FEW_SHOT", "FewShot", "SourceConfig", "FetchConfig", "ImageConfig", "SamConfig",
    "GroundingConfig", "DiffusionConfig", "VlmConfig", "LlmConfig", "ClipConfig", "DinoConfig", "BrushConfig",
    "MasksConfig", "FilterConfig", "RemovalConfig", "DescribeConfig", "InstructionsConfig", "QualityConfig",
    "OutputConfig", "ExemplarConfig", "BorrowConfig", "DiffEditConfig",
]


@dataclass(frozen=True)
class Config:
    source: SourceConfig = field(default_factory=SourceConfig)
    image: ImageConfig = field(default_factory=ImageConfig)
    masks: MasksConfig = field(default_factory=MasksConfig)
    filters: FilterConfig = field(default_factory=FilterConfig)
    removal: RemovalConfig = field(default_factory=RemovalConfig)
    describe: DescribeConfig = field(default_factory=DescribeConfig)
    instructions: InstructionsConfig = field(default_factory=InstructionsConfig)
    quality: QualityConfig = field(default_factory=QualityConfig)
    output: OutputConfig = field(default_factory=OutputConfig)

    def __post_init__(self):
        r = self.removal
        if self.quality.runs("consensus") and (r.kind != "diffusion" or r.diffusion.candidates < 2):
            raise ConfigError("quality.stages: consensus needs removal.kind diffusion with "
                              "removal.diffusion.candidates >= 2 (or leave consensus out of quality.stages)")


# Each section's ``_KEY`` (its messages' prefix) is its place in Config: ``removal.diffusion`` for DiffusionConfig.
name_sections(Config)

# The keys naming a model (masks.sam.model, masks.grounding.model, masks.grounding.sam_model, ...): every str
# field ``model`` / ``*_model`` of every ModelConfig section, in the order Config declares them (base.py).
# A model key added to a section is resolved like the others without being listed anywhere.
MODEL_KEYS = model_keys(Config)
REFS = RefKeys(paths=PATH_KEYS, path_words=PATH_WORDS, models=MODEL_KEYS, is_local_model=is_local_model)


def load_config(path: str | None, overrides: list[str] = ()) -> Config:
    """Load a YAML recipe and apply ``key.sub=value`` overrides (values parsed as YAML scalars)."""
    return load(Config, path, overrides, REFS)
