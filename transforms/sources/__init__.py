"""Sources (``source.kind``): turn an input collection into a deterministic plan of numbered shards.

A source is one file here with ``plan_<kind>(cfg) -> list[PlanEntry]`` and one ``Source`` line in SOURCES,
which declares all else about it (its dataset's name, whether ``source.where`` selects its rows, old names it
answers to). A source of one image per table row may also declare ``rows`` (``Rows``): the build then plans
it as Arrow tables, one per shard, written as they are (OUT/plan/NNNNNN.parquet), and each worker makes its
own shard's entries from them: nothing per row happens in the driver (a LAION part file of millions of
rows plans at Arrow's speed, in Arrow's memory). An entry the source already knows to be unusable (a
duplicate id, ...) stays in the plan with a planned reject; the load stage (transforms/stages/load.py)
reports it as a reject of stage 'read' without reading anything.
"""
from __future__ import annotations

import contextlib
import gc
import json
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pyarrow as pa

from configs.schema import ConfigError, SourceConfig
from transforms.core.records import PlanEntry
from transforms.sources.coco import plan_coco
from transforms.sources.folder import plan_folder
from transforms.sources.mix import merge
from transforms.sources.openimages import (OPENIMAGES_ROW_KEYS, openimages_row_entries, openimages_rows,
                                           plan_openimages)
from transforms.sources.url_table import URL_ROW_KEYS, plan_url_table, url_row_entries, url_rows
from transforms.sources.webdataset import plan_webdataset


@dataclass(frozen=True)
class Rows:
    """A row source's two halves: ``read(cfg, tally) -> [pa.Table]`` (the kept rows of each input, Arrow
    only) and ``entries(cfg, rows) -> [PlanEntry]`` (what a worker makes of a shard's rows; the same
    entries ``plan`` gives), and ``keys``, the source keys ``entries`` reads: a shard's rows carry those,
    so its plan file names nothing else (no other key's path, which would tie it to one machine)."""
    read: Callable
    entries: Callable
    keys: tuple[str, ...]


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
    rows: Rows | None = None        # a table source planned as Arrow rows (see the module's docstring)


SOURCES: dict[str, Source] = {
    "coco": Source(plan_coco, "COCO"),
    "lvis": Source(plan_coco, "LVIS"),
    "url_table": Source(plan_url_table, where=True, aliases={"laion_parquet": "LAION"}, lists=("annotations",),
                        rows=Rows(url_rows, url_row_entries, URL_ROW_KEYS)),
    "webdataset": Source(plan_webdataset, where=True, lists=("images",)),
    "folder": Source(plan_folder, lists=("images",)),
    "openimages": Source(plan_openimages, "OpenImages",
                         rows=Rows(openimages_rows, openimages_row_entries, OPENIMAGES_ROW_KEYS)),
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


def plan_with_summary(cfg: SourceConfig, as_rows: bool = False) -> tuple[list, dict]:
    """(the whole input as shards of ``cfg.shard_size`` entries, the plan's summary: ``where`` and
    ``where_left_out``, the rows ``source.where`` left out; for a mix also ``images_in_several``, the
    images two sources name, planned once). With ``as_rows`` a row source (one of no mix) gives each shard
    as an Arrow table of its rows instead (``Rows``). Raises ConfigError for a bad source."""
    with paused_gc():
        return _plan(cfg, as_rows)


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


def _plan(cfg: SourceConfig, as_rows: bool) -> tuple[list, dict]:
    size = cfg.shard_size
    if not cfg.mix:
        rows = SOURCES[source_kind(cfg.kind)].rows if as_rows else None
        found, tally = _plan_one(cfg, rows)
        if rows is not None:
            shards = row_shards(found, size)
            if shards is not None:
                made_with = {ROWS_CONFIG: json.dumps({k: getattr(cfg, k) for k in ("kind", *rows.keys)},
                                                     sort_keys=True)}
                return [t.replace_schema_metadata(made_with) for t in shards], tally
            found, tally = _plan_one(cfg, None)   # tables whose columns no one type holds: entries, as a mix
        return [found[i: i + size] for i in range(0, len(found), size)], tally
    tally = {"where": "", "where_left_out": 0}
    planned = []
    for item in cfg.mix:
        entries, one = _plan_one(item, None)
        tally["where_left_out"] += one["where_left_out"]
        planned.append((item, entries))
    entries, tally["images_in_several"] = merge(cfg, planned)
    tally["where"] = "; ".join(f"{item.name}: {item.where.strip()}" for item in cfg.mix if item.where.strip())
    return [entries[i: i + size] for i in range(0, len(entries), size)], tally


def _plan_one(cfg: SourceConfig, rows: Rows | None) -> tuple[list, dict]:
    """(the source's entries, or with ``rows`` its tables of kept rows; the tally of ``source.where``)."""
    source = SOURCES[source_kind(cfg.kind)]
    tally = {"where": cfg.where.strip(), "where_left_out": 0}
    if tally["where"] and not source.where:
        selecting = " and ".join(name for name, s in SOURCES.items() if s.where)
        raise ConfigError(f"source.where: selects rows of {selecting} sources only, not "
                          f"source.kind={cfg.kind}; remove it")
    if rows is not None:
        found = rows.read(cfg, tally)
        empty = not sum(t.num_rows for t in found)
    else:
        found = source.plan(cfg, tally) if source.where else source.plan(cfg)
        empty = not found
    if empty:
        left = f" (source.where={cfg.where!r} left out all {tally['where_left_out']} rows)" if tally["where"] else ""
        raise ConfigError(f"source: no images found in {cfg.annotations or cfg.images}{left}")
    return found, tally


ROWS_CONFIG = "inpaint_pairs.source"   # a row shard's schema metadata: the source config its entries are made with


def row_entries(rows: pa.Table) -> list[PlanEntry]:
    """The plan entries of one row shard, made with the source config it carries."""
    cfg = SourceConfig(**json.loads(rows.schema.metadata[ROWS_CONFIG.encode()]))
    return SOURCES[source_kind(cfg.kind)].rows.entries(cfg, rows)


def images_in(shard: list[PlanEntry] | pa.Table) -> int:
    """The number of images a shard of the plan holds: its entries, or its rows (rows of one image share
    an ``image`` number where a source gives an image several rows)."""
    if isinstance(shard, pa.Table) and "image" in shard.column_names and shard.num_rows:
        image = shard.column("image")
        return image[-1].as_py() - image[0].as_py() + 1
    return len(shard)


def row_shards(tables: list[pa.Table], size: int) -> list[pa.Table] | None:
    """The rows of ``tables``, in order, as tables of ``size`` images (the last one shorter), each in one
    chunk: ``size`` rows, or where the rows carry an ``image`` number (several rows an image), the rows of
    ``size`` images. Tables whose columns differ in type are promoted to a common type (None where Arrow
    has none: a caption column of text in one file and of numbers in another)."""
    try:
        rows = pa.concat_tables([t for t in tables if t.num_rows], promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return None
    rows = rows.unify_dictionaries()
    if "image" not in rows.column_names:
        return [rows.slice(i, size).combine_chunks() for i in range(0, rows.num_rows, size)]
    image = rows.column("image").to_numpy()
    starts = np.searchsorted(image, np.arange(0, int(image[-1]) + 1, size)).tolist() + [rows.num_rows]
    return [rows.slice(a, b - a).combine_chunks() for a, b in zip(starts, starts[1:])]


def plan_source(cfg: SourceConfig) -> list[list[PlanEntry]]:
    """The whole input as shards of ``cfg.shard_size`` entries; raises ConfigError for a bad source."""
    return plan_with_summary(cfg)[0]
