"""Sources (``source.kind``): turn an input collection into a deterministic plan of numbered shards.

A source is one file here with ``plan_<kind>(cfg) -> list[PlanEntry]`` and one line in SOURCES; an old
name a source still answers to is one line in ALIASES, resolved by ``source_kind`` alone. An entry
the source already knows to be unusable (a duplicate id, ...) stays in the plan with a planned reject; the
load stage (transforms/stages/load.py) reports it as a reject of stage 'read' without reading anything.
"""
from __future__ import annotations

from typing import Callable

from configs.schema import ConfigError, SourceConfig
from transforms.core.records import PlanEntry
from transforms.sources.coco import plan_coco
from transforms.sources.folder import plan_folder
from transforms.sources.openimages import plan_openimages
from transforms.sources.url_table import plan_url_table
from transforms.sources.webdataset import plan_webdataset

SOURCES: dict[str, Callable[[SourceConfig], list[PlanEntry]]] = {
    "coco": plan_coco,
    "lvis": plan_coco,
    "url_table": plan_url_table,
    "webdataset": plan_webdataset,
    "folder": plan_folder,
    "openimages": plan_openimages,
}

# Old names a source still answers to (-> its SOURCES key). A config keeps the name its user wrote: the
# recorded config.yaml, the card and the export read it as given.
ALIASES: dict[str, str] = {
    "laion_parquet": "url_table",
}

# The proper name of the dataset each source reads (PIPE's target_img_dataset says "COCO", "OpenImages").
# Sources that read any collection (a folder, img2dataset shards, a url_table) have none: their source.name
# stands. Keyed by the kind as written: the old name laion_parquet said the table is LAION's.
DATASET_NAMES: dict[str, str] = {
    "coco": "COCO",
    "lvis": "LVIS",
    "laion_parquet": "LAION",
    "openimages": "OpenImages",
}


# The sources whose rows ``source.where`` can select (tables with columns); they take a tally dict.
WHERE_SOURCES = ("url_table", "webdataset")


def source_kind(kind: str) -> str:
    """The SOURCES key ``source.kind`` names (an alias resolved); raises ConfigError for an unknown kind."""
    resolved = ALIASES.get(kind, kind)
    if resolved not in SOURCES:
        aliases = ", ".join(f"{old} (= {new})" for old, new in ALIASES.items())
        raise ConfigError(f"source.kind: {kind!r} is not allowed; choose one of {', '.join(SOURCES)} "
                          f"(also accepted: {aliases})")
    return resolved


def plan_with_summary(cfg: SourceConfig) -> tuple[list[list[PlanEntry]], dict]:
    """(the whole input as shards of ``cfg.shard_size`` entries, the plan's summary: ``where`` and
    ``where_left_out``, the rows ``source.where`` left out). Raises ConfigError for a bad source."""
    kind = source_kind(cfg.kind)
    tally = {"where": cfg.where.strip(), "where_left_out": 0}
    if tally["where"] and kind not in WHERE_SOURCES:
        raise ConfigError(f"source.where: selects rows of {' and '.join(WHERE_SOURCES)} sources only, not "
                          f"source.kind={cfg.kind}; remove it")
    entries = SOURCES[kind](cfg, tally) if kind in WHERE_SOURCES else SOURCES[kind](cfg)
    if not entries:
        left = f" (source.where={cfg.where!r} left out all {tally['where_left_out']} rows)" if tally["where"] else ""
        raise ConfigError(f"source: no images found in {cfg.annotations or cfg.images}{left}")
    size = cfg.shard_size
    return [entries[i: i + size] for i in range(0, len(entries), size)], tally


def plan_source(cfg: SourceConfig) -> list[list[PlanEntry]]:
    """The whole input as shards of ``cfg.shard_size`` entries; raises ConfigError for a bad source."""
    return plan_with_summary(cfg)[0]
