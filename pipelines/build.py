"""The Beam graph of a build: plan shards -> (BrushData-v2's donor pass) -> the stage chain -> shard writer.

Wiring only: every stage is a pure function or a ModelStep from transforms/, wrapped by
transforms.core.stage.Stage; the chain and its order come from pipelines/chain.py. Elements are units of
``source.unit_images`` consecutive images of a shard (transforms/core/records.py ``Unit``), from the plan;
a chain without a model stage takes units of one image.
"""
from __future__ import annotations

import copy

import apache_beam as beam

from configs.schema import Config
from pipelines.chain import DONOR_STAGE, Chain, model_handlers, stage_chain
from pipelines.plan import read_entries
from pipelines.progress import CountFn
from transforms.core.fetch import is_http
from transforms.core.records import Unit, units
from transforms.core.stage import Stage
from transforms.formats import FORMATS
from transforms.maskers.donors import donor_step, dropped, pair_shard, with_pairing
from transforms.stages.load import KEPT, load_image
from transforms.stages.write import kept_download_path, write_part, write_shard


def read_plan(shard: int, out: str, unit_images: int) -> list[Unit]:
    """Shard ``shard``'s plan records as its units."""
    return units(shard, [entry.to_record(shard) for entry in read_entries(out, shard)], unit_images)


def regroup(item: tuple, out: str, unit_images: int) -> list[Unit]:
    """(shard, its plan records in any order) -> the shard's units, records in plan order, as read_plan
    makes them (the records are plan records: no image bytes were grouped)."""
    shard, records = item
    order = {entry.key: i for i, entry in enumerate(read_entries(out, shard))}
    return units(shard, sorted(records, key=lambda r: order[r.key]), unit_images)


def items(unit: Unit) -> list:
    return unit.items


class WriteShardFn(beam.DoFn):
    """Writes one shard; ``mixed``: the build plans several sources, whose counts the stats keep apart."""
    def __init__(self, out: str, schema, stages: list[str], mixed: bool = False):
        self.out, self.schema, self.stages, self.mixed = out, schema, stages, mixed

    def process(self, item):
        shard, groups = item
        entries = read_entries(self.out, shard)
        sources = {e.key: e.meta.get("dataset", "") for e in entries} if self.mixed else None
        yield write_shard(self.out, shard, [e.key for e in entries], list(groups["pairs"]),
                          list(groups["rejects"]), self.schema, self.stages, sources)


def stage_threads(cfg: Config, stage: str) -> int:
    """Records a stage works on at once per worker: 'load' waits on reads (the network for URL tables), so
    it keeps ``image.fetch.concurrency`` of them in flight; every other stage runs one at a time."""
    return cfg.image.fetch.concurrency if stage == "load" else 1


class BorrowShapes(beam.PTransform):
    """BrushData-v2's donor pass (transforms/maskers/donors.py) on plan records: load and run the model to
    get each image's ``Shapes``, pair them within each shard, and put each pairing on its plan record. Only
    the small Shapes are grouped and only plan records are joined: no image bytes wait in the runner. A
    downloaded image is kept in a part file of its shard for the second pass (deleted at the commit)."""

    def __init__(self, cfg: Config, handler, out: str):
        super().__init__()
        self.cfg, self.handler, self.out = cfg, handler, out

    def expand(self, records):
        cfg, out = self.cfg, self.out
        plan = records | "PlanRecords" >> beam.FlatMap(items)

        def load_keeping(rec, c):   # a copy: the same plan record also goes to the join, and must stay small
            return load_image(copy.deepcopy(rec), c, kept_download_path(out, rec.shard, rec.key))
        loaded = records | Stage(f"{DONOR_STAGE}_load", load_keeping, cfg.image, threads=stage_threads(cfg, "load"))
        found = loaded.kept | Stage(DONOR_STAGE, donor_step(cfg), cfg, self.handler)
        failed = ((loaded.rejects, found.rejects) | "Dropped" >> beam.Flatten()
                  | "AsShapes" >> beam.Map(dropped))
        shapes = found.kept | "ShapesFound" >> beam.FlatMap(items)
        pairings = ((shapes, failed) | "AllShapes" >> beam.Flatten()
                    | "KeyShard" >> beam.Map(lambda s: (s.shard, s)) | "ByShard" >> beam.GroupByKey()
                    | "Pair" >> beam.FlatMap(pair_shard, cfg))
        keyed = plan | "KeyImage" >> beam.Map(lambda r: (r.key, r))
        return ({"rec": keyed, "pairing": pairings} | "Join" >> beam.CoGroupByKey()
                | "WithPairing" >> beam.Map(with_pairing) | "ReadKept" >> beam.Map(read_kept, out)
                | "KeyShardRecords" >> beam.Map(lambda r: (r.shard, r)) | "ShardRecords" >> beam.GroupByKey()
                | "Units" >> beam.FlatMap(regroup, out, cfg.source.unit_images))   # a model pass: units


def read_kept(rec, out: str):
    """The second pass reads what the first downloaded (a URL is fetched once per build)."""
    if is_http(rec.uri):
        rec.meta[KEPT] = kept_download_path(out, rec.shard, rec.key)
    return rec


def build_pipeline(p: beam.Pipeline, cfg: Config, out: str, todo: list[int], chain: Chain | None = None):
    """The Beam graph that builds shards ``todo`` of ``out``: ``chain`` is ``stage_chain(cfg)`` (computed here
    when the caller has not)."""
    chain = stage_chain(cfg) if chain is None else chain
    handlers = dict(model_handlers(cfg, chain))
    # Units fix what a model call holds; a chain without a model works image by image (measured: units of
    # 16 images cost the CPU default a fifth of its speed on 2 workers, BENCHMARKS.md)
    size = cfg.source.unit_images if handlers else 1
    if handlers:   # imported only then: Beam's RunInference base imports torch, which the CPU default never pays
        from model_wrappers.base import UnitHandler
        handlers = {name: UnitHandler(handler, name) for name, handler in handlers.items()}
    shards = p | "PlanShards" >> beam.Create(todo) | "SpreadShards" >> beam.Reshuffle()
    pcoll = (shards | "ReadPlan" >> beam.FlatMap(read_plan, out, size)
             | "SpreadUnits" >> beam.Reshuffle() | "CountImages" >> beam.ParDo(CountFn("images", items)))
    rejects = []
    if DONOR_STAGE in handlers:
        pcoll = pcoll | "BorrowShapes" >> BorrowShapes(cfg, handlers[DONOR_STAGE], out)
    for name, fn, section in chain:
        result = pcoll | Stage(name, fn, section, handlers.get(name), threads=stage_threads(cfg, name))
        rejects.append(result.rejects)
        pcoll = result.kept
    # the encoded bytes go to part files from the stage that made them; only small PartRefs are grouped
    parts = pcoll | "Samples" >> beam.FlatMap(items) | "WriteParts" >> beam.Map(lambda s: write_part(out, s))
    grouped = {
        "plan": shards | "KeyPlan" >> beam.Map(lambda k: (k, k)),
        "pairs": (parts | "CountPairs" >> beam.ParDo(CountFn("pairs"))
                  | "KeyPairs" >> beam.Map(lambda e: (e.shard, e))),
        "rejects": (rejects | "AllRejects" >> beam.Flatten()
                    | "KeyRejects" >> beam.Map(lambda r: (r.shard, r))),
    }
    stages = [name for name, _, _ in chain]
    return grouped | "ByShard" >> beam.CoGroupByKey() | "WriteShards" >> beam.ParDo(
        WriteShardFn(out, FORMATS[cfg.output.format].schema, stages, bool(cfg.source.mix)))
