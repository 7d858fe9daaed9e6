"""Assemble and run the Beam pipeline: plan shards, run the stage chain, write shards, report.

Wiring only: every stage is a pure function from transforms/, wrapped by transforms.stage.Stage, or a
model stage (pure pre -> RunInference -> pure post) wrapped by transforms.model_stage.ModelStage.
"""
from __future__ import annotations

import json
import os
import math
import time
from typing import TYPE_CHECKING, Callable

import apache_beam as beam
from apache_beam.options.pipeline_options import DirectOptions, PipelineOptions, StandardOptions

from configs.schema import Config, ConfigError, dump_yaml
from pipelines import report as reporting
from pipelines.card import write_card
from pipelines.progress import Progress
from transforms import fileio
from transforms.blend import blend
from transforms.clip_filters import quality_step
from transforms.describe import DESCRIBERS
from transforms.encode import encode_pair
from transforms.filters import filter_candidates
from transforms.formats import FORMATS
from transforms.instruct import INSTRUCTORS
from transforms.instruct_llm import MODEL_INSTRUCTORS
from transforms.load import load_image
from transforms.model_step import ModelStep
from transforms.propose import MASKERS
from transforms.propose_models import MODEL_MASKERS
from transforms.remove import REMOVERS
from transforms.remove_diffusion import MODEL_REMOVERS
from transforms.shards import paths, write_shard
from transforms.sources import plan_source, to_record
from transforms.stage import Stage

if TYPE_CHECKING:
    from model_wrappers.base import Handler


def _pick(registry: dict, key: str, name: str) -> Callable:
    if name not in registry:
        raise ConfigError(f"{key}: {name!r} is not allowed; choose one of {', '.join(registry)}")
    return registry[name]


def stage_chain(cfg: Config) -> list[tuple[str, Callable | ModelStep, object]]:
    """(stage name, pure function or ModelStep, its config) in pipeline order; stages set to none are left out."""
    chain = [
        ("load", load_image, cfg.image),
        ("propose", _pick({**MASKERS, **MODEL_MASKERS}, "masks.kind", cfg.masks.kind), cfg),
        ("filter", filter_candidates, cfg.filters),
        ("clip_prefilter", quality_step(cfg.quality, "clip_prefilter"), cfg.quality),
        ("remove", _pick({**REMOVERS, **MODEL_REMOVERS}, "removal.kind", cfg.removal.kind), cfg.removal),
        ("consensus", quality_step(cfg.quality, "consensus"), cfg.quality),
        ("removal_score", quality_step(cfg.quality, "removal_score"), cfg.quality),
        ("importance", quality_step(cfg.quality, "importance"), cfg.quality),
        ("importance_dino", quality_step(cfg.quality, "importance_dino"), cfg.quality),
        ("blend", blend, cfg.removal),
        ("describe", _pick(DESCRIBERS, "describe.kind", cfg.describe.kind), cfg.describe),
        ("instruct", _pick({**INSTRUCTORS, **MODEL_INSTRUCTORS}, "instructions.kind", cfg.instructions.kind),
         cfg.instructions),
        ("encode", encode_pair, cfg),
    ]
    chain = [(name, fn, section) for name, fn, section in chain if fn is not None]
    return _pick(FORMATS, "output.format", cfg.output.format).stages(chain)  # brushdata: no pair stages


def model_handlers(cfg: Config) -> list[tuple[str, Handler]]:
    """(stage, ModelHandler) of every model stage of the chain, configured but not loaded."""
    steps = [(name, fn, section) for name, fn, section in stage_chain(cfg) if isinstance(fn, ModelStep)]
    if not steps:
        return []
    # Imported only when a model stage runs: Beam's RunInference module imports torch (seconds).
    from model_wrappers.registry import build_handler
    return [(name, build_handler(fn.family, fn.section(section))) for name, fn, section in steps]


def require_models(cfg: Config, log: Callable = print) -> None:
    """Stop before any work when a model the chain needs is missing (named, with where to get it)."""
    handlers = model_handlers(cfg)
    if not handlers:
        return
    from model_wrappers.registry import model_status
    rows = model_status(handlers)
    bad = [r for r in rows if r.blocking]
    if bad:
        hint = " (pip install 'inpaint-pairs[models]')" if any(r.missing_packages for r in bad) else ""
        raise ConfigError(f"{len(bad)} model(s) cannot be loaded{hint}:\n" + "\n".join(r.line() for r in bad))
    for r in rows:
        if r.where.status == "not_cached":
            log(f"note: {r.model.key} {r.model.ref!r} is not in the local hub cache; each worker downloads it "
                f"on first load (set HF_HUB_OFFLINE=1 to refuse instead)")


def read_plan(shard: int, out: str):
    doc = fileio.read_json(paths(out, shard)["plan"])
    for entry in doc["images"]:
        yield to_record(entry, shard)


class WriteShardFn(beam.DoFn):
    def __init__(self, out: str, schema, stages: list[str]):
        self.out, self.schema, self.stages = out, schema, stages

    def process(self, item):
        shard, groups = item
        keys = [e["key"] for e in fileio.read_json(paths(self.out, shard)["plan"])["images"]]
        yield write_shard(self.out, shard, keys, list(groups["pairs"]), list(groups["rejects"]), self.schema,
                          self.stages)


def build_pipeline(p: beam.Pipeline, cfg: Config, out: str, todo: list[int]):
    shards = p | "PlanShards" >> beam.Create(todo) | "SpreadShards" >> beam.Reshuffle()
    pcoll = (shards | "ReadPlan" >> beam.FlatMap(read_plan, out)
             | "SpreadImages" >> beam.Reshuffle())
    rejects = []
    handlers = dict(model_handlers(cfg))
    for name, fn, section in stage_chain(cfg):
        if isinstance(fn, ModelStep):
            from transforms.model_stage import ModelStage  # Beam's RunInference: imports torch
            result = pcoll | ModelStage(name, fn, section, handlers[name])
        else:
            result = pcoll | Stage(name, fn, section)
        rejects.append(result.rejects)
        pcoll = result.kept
    grouped = {
        "plan": shards | "KeyPlan" >> beam.Map(lambda k: (k, k)),
        "pairs": pcoll | "KeyPairs" >> beam.Map(lambda e: (e.shard, e)),
        "rejects": (rejects | "AllRejects" >> beam.Flatten()
                    | "KeyRejects" >> beam.Map(lambda r: (r.shard, r))),
    }
    stages = [name for name, _, _ in stage_chain(cfg)]
    return grouped | "ByShard" >> beam.CoGroupByKey() | "WriteShards" >> beam.ParDo(
        WriteShardFn(out, FORMATS[cfg.output.format].schema, stages))


def pipeline_options(beam_args: list[str]) -> PipelineOptions:
    """Beam flags pass through; locally the default is FnApiRunner (it downloads nothing)."""
    args = list(beam_args)
    if not any(a == "--runner" or a.startswith("--runner=") for a in args):
        args.append("--runner=FnApiRunner")
    opts = PipelineOptions(args)
    direct = opts.view_as(DirectOptions)
    if direct.direct_num_workers != 1 and direct.direct_running_mode == "in_memory":
        direct.direct_running_mode = "multi_processing"
    return opts


def prepare_output(cfg: Config, out: str) -> None:
    """Create the folders and record the config; refuse an output made with a different config."""
    text = dump_yaml(cfg)
    config_path = fileio.join(out, "config.yaml")
    try:
        if "://" not in out:
            for sub in ("shards", "rejects", "plan"):
                os.makedirs(os.path.join(out, sub), exist_ok=True)
        if fileio.exists(config_path):
            if fileio.read_bytes(config_path).decode() != text:
                raise ConfigError(f"--output {out} already holds a run made with a different config; "
                                  f"use a new output folder (or remove {out} to start over)")
        else:
            fileio.write_atomic(config_path, text.encode())
    except OSError as e:
        raise ConfigError(f"--output {out} is not writable ({e.strerror or e}); choose another folder") from None


def write_plan(out: str, shards: list[list[dict]], part: tuple[int, int] = (0, 1)) -> list[int]:
    """Write missing plan files; return this slice's shards not finished yet (no stats json).

    Every slice writes every missing plan file (same bytes whoever writes it), so the report can tell
    which shards of the whole plan are missing; a slice only builds shards k with k % n == i.
    """
    i, n = part
    todo = []
    for k, entries in enumerate(shards):
        p = paths(out, k)
        if not fileio.exists(p["plan"]):
            fileio.write_json(p["plan"], {"shard": k, "images": entries})
        if k % n == i and not fileio.exists(p["stats"]):
            todo.append(k)
    return todo


def parse_slice(text: str | None, env: dict) -> tuple[int, int]:
    """``i/n`` (or Slurm's array task id/count when unset) -> (i, n); (0, 1) means the whole plan."""
    if not text and env.get("SLURM_ARRAY_TASK_ID") and env.get("SLURM_ARRAY_TASK_COUNT"):
        first = int(env.get("SLURM_ARRAY_TASK_MIN", 0))  # arrays may start at 1 (--array=1-8)
        text = f"{int(env['SLURM_ARRAY_TASK_ID']) - first}/{env['SLURM_ARRAY_TASK_COUNT']}"
    if not text:
        return 0, 1
    try:
        i, n = (int(v) for v in text.split("/"))
    except ValueError:
        raise ConfigError(f"--slice {text!r}: expected i/n with whole numbers, e.g. 0/4") from None
    if not 0 <= i < n:
        raise ConfigError(f"--slice {text!r}: i must be in 0..n-1")
    return i, n


def clear_stale_tmp(out: str, todo: list[int]) -> None:
    """Remove temporary files a killed run left for the shards about to be rewritten (and only those)."""
    ours = {f"{k:06d}{ext}" for k in todo for ext in (".tar", ".parquet", ".stats.json")}
    for sub in ("shards", "rejects"):
        folder = fileio.join(out, sub)
        stale = [fileio.join(folder, n) for n in fileio.list_names(folder, fileio.TMP_PREFIX + "*")
                 if fileio.tmp_target(n) in ours]
        fileio.delete(stale)


LOCAL_RUNNERS = {"FnApiRunner", "DirectRunner", "SwitchingDirectRunner", "BundleBasedDirectRunner"}


def waves(todo: list[int], options: PipelineOptions, shard_size: int, wave_images: int) -> list[list[int]]:
    """Split the shards to build into pipeline runs. Beam's local runner keeps a stage's whole output in
    memory (the pairs waiting for their shard writer), so local runs go in waves of about
    ``wave_images`` images: memory stays bounded whatever the dataset size. Remote runners shuffle on
    disk and take every shard in one run."""
    if options.view_as(StandardOptions).runner not in LOCAL_RUNNERS:
        return [todo]
    workers = options.view_as(DirectOptions).direct_num_workers or os.cpu_count() or 1
    per_wave = max(2 * workers, math.ceil(wave_images / shard_size))
    return [todo[i: i + per_wave] for i in range(0, len(todo), per_wave)]


def run_build(cfg: Config, out: str, beam_args: list[str] = (), log: Callable = print,
              part: tuple[int, int] = (0, 1), wave_images: int = 1000) -> dict:
    """Plan, run this slice's missing shards on Beam, write the report; returns the report.

    A slice of several (``part`` = (i, n), n > 1) writes only its own shards and no report: run
    ``inpaint-pairs report OUT`` once all slices are done. It returns the funnel of its own shards.
    """
    if "://" not in out:
        out = os.path.abspath(out)
    options = pipeline_options(beam_args)
    stage_chain(cfg)  # registry names checked before any work
    require_models(cfg, log)
    shards = plan_source(cfg.source)
    prepare_output(cfg, out)
    todo = write_plan(out, shards, part)
    clear_stale_tmp(out, todo)
    n_images = sum(len(s) for s in shards)
    mine = [k for k in range(len(shards)) if k % part[1] == part[0]]
    where = f" (slice {part[0]}/{part[1]}: {len(mine)} shards)" if part[1] > 1 else ""
    log(f"plan: {n_images} images in {len(shards)} shards{where}; {len(mine) - len(todo)} already done, "
        f"{len(todo)} to build -> {out}")
    if todo:
        started = time.time()
        with Progress(out, len(shards), len(shards) - len(todo), log):
            for wave in waves(todo, options, cfg.source.shard_size, wave_images):
                with beam.Pipeline(options=options) as p:
                    build_pipeline(p, cfg, out, wave)
        log(f"built {len(todo)} shards in {time.time() - started:.1f}s")
    if part[1] > 1:
        log(f"slice {part[0]}/{part[1]} done; when every slice is, run: inpaint-pairs report {out}")
        return {"shards": mine}
    report = reporting.write_report(out)
    write_card(out)
    log(reporting.format_funnel(report))
    return report


def load_report(out: str) -> dict:
    return json.loads(fileio.read_bytes(fileio.join(out, "report.json")))
