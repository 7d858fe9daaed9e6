"""Sources (``source.kind``): turn an input collection into a deterministic plan of numbered shards.

A source is one file here with ``plan_<kind>(cfg) -> list[PlanEntry]`` and one ``Source`` line in SOURCES,
which declares all else about it (its dataset's name, whether ``source.where`` selects its rows, old names it
answers to). An entry the source already knows to be unusable (a duplicate id, ...) stays in the plan with a
planned reject; the load stage (transforms/stages/load.py) reports it as a reject of stage 'read' without
reading anything.
"""
from __future__ import annotations

import contextlib
import gc
from dataclasses import dataclass, field
from typing import Callable

from configs.schema import ConfigError, SourceConfig
from transforms.core.records import PlanEntry
from transforms.sources.coco import plan_coco
from transforms.sources.folder import plan_folder
from transforms.sources.mix import merge
from transforms.sources.openimages import plan_openimages
from transforms.sources.url_table import plan_url_table
from transforms.sources.webdataset import plan_webdataset

@dataclass(frozen=True)
class Source:
    """Everything about one source kind. ``plan(cfg)`` gives its entries; a source whose rows ``source.where``
    can select (a table with columns, ``where``) is called ``plan(cfg, tally)``. ``dataset`` is the proper
    name of the dataset it reads (PIPE's target_img_dataset says "COCO"); '' for a source of any collection,
    whose source.name stands. ``aliases``: old names it still answers to, each with the dataset name the old
    name implies ('' for none); a config keeps the name its user wrote (config.yaml, the card, the export)."""
    plan: Callable[..., list[PlanEntry]]
    dataset: str = ""
    where: bool = False
    aliases: dict[str, str] = field(default_factory=dict)
    lists: tuple[str, ...] = ()     # source keys whose folder listing the plan reads (see ``listed_keys``)


SOURCES: dict[str, Source] = {
    "coco": Source(plan_coco, "COCO"),
    "lvis": Source(plan_coco, "LVIS"),
    "url_table": Source(plan_url_table, where=True, aliases={"laion_parquet": "LAION"}, lists=("annotations",)),
    "webdataset": Source(plan_webdataset, where=True, lists=("images",)),
    "folder": Source(plan_folder, lists=("images",)),
    "openimages": Source(plan_openimages, "OpenImages"),
}


def listed_keys(cfg: SourceConfig) -> tuple[str, ...]:
    """The keys of ``cfg`` (one source) whose folder listing its plan reads: a rerun plans again unless each
    is a file or glob whose size and time OUT/plan/inputs.json records (pipelines/plan.py)."""
    return SOURCES[source_kind(cfg.kind)].lists


def source_kind(kind: str) -> str:
    """The SOURCES key ``source.kind`` names (an alias resolved); raises ConfigError for an unknown kind."""
    if kind in SOURCES:
        return kind
    for name, source in SOURCES.items():
        if kind in source.aliases:
            return name
    aliases = ", ".join(f"{old} (= {name})" for name, source in SOURCES.items() for old in source.aliases)
    raise ConfigError(f"source.kind: {kind!r} is not allowed; choose one of {', '.join(SOURCES)}"
                      + (f" (also accepted: {aliases})" if aliases else ""))


def dataset_of(kind: str) -> str:
    """The proper dataset name of the source ``kind`` as written (an alias may imply its own), '' for none."""
    source = SOURCES[source_kind(kind)]
    return source.aliases.get(kind, source.dataset)


def plan_with_summary(cfg: SourceConfig) -> tuple[list[list[PlanEntry]], dict]:
    """(the whole input as shards of ``cfg.shard_size`` entries, the plan's summary: ``where`` and
    ``where_left_out``, the rows ``source.where`` left out; for a mix also ``images_in_several``, the
    images two sources name, planned once). Raises ConfigError for a bad source."""
    with paused_gc():
        return _plan(cfg)


@contextlib.contextmanager
def paused_gc():
    """Python's cycle collector off while a plan is read: the parsed annotations are millions of small
    objects that hold no cycles, and walking them again and again took half of a COCO-size plan's time."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _plan(cfg: SourceConfig) -> tuple[list[list[PlanEntry]], dict]:
    if not cfg.mix:
        entries, tally = _plan_one(cfg)
    else:
        tally = {"where": "", "where_left_out": 0}
        planned = []
        for item in cfg.mix:
            entries, one = _plan_one(item)
            tally["where_left_out"] += one["where_left_out"]
            planned.append((item, entries))
        entries, tally["images_in_several"] = merge(cfg, planned)
        tally["where"] = "; ".join(f"{item.name}: {item.where.strip()}" for item in cfg.mix if item.where.strip())
    size = cfg.shard_size
    return [entries[i: i + size] for i in range(0, len(entries), size)], tally


def _plan_one(cfg: SourceConfig) -> tuple[list[PlanEntry], dict]:
    source = SOURCES[source_kind(cfg.kind)]
    tally = {"where": cfg.where.strip(), "where_left_out": 0}
    if tally["where"] and not source.where:
        selecting = " and ".join(name for name, s in SOURCES.items() if s.where)
        raise ConfigError(f"source.where: selects rows of {selecting} sources only, not "
                          f"source.kind={cfg.kind}; remove it")
    entries = source.plan(cfg, tally) if source.where else source.plan(cfg)
    if not entries:
        left = f" (source.where={cfg.where!r} left out all {tally['where_left_out']} rows)" if tally["where"] else ""
        raise ConfigError(f"source: no images found in {cfg.annotations or cfg.images}{left}")
    return entries, tally


def plan_source(cfg: SourceConfig) -> list[list[PlanEntry]]:
    """The whole input as shards of ``cfg.shard_size`` entries; raises ConfigError for a bad source."""
    return plan_with_summary(cfg)[0]
