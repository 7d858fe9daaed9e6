"""Run a build: plan, this slice's missing shards in waves on Beam, then the report and the card.

``run_build`` is what ``inpaint-pairs build`` calls. Local runs go in waves of shards (bounded memory);
``--slice i/n`` builds shards k with k % n == i; finished shards (stats json) are skipped on a rerun and
a killed run's temporaries are cleared first.
"""
from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass
from typing import Callable

import apache_beam as beam
from apache_beam.options.pipeline_options import DirectOptions, PipelineOptions, StandardOptions

from configs.schema import Config, ConfigError, dump_yaml, same_as_recorded, source_paths
from pipelines.build import build_pipeline
from pipelines.chain import require_models, stage_chain
from pipelines import lock, model_calls, verify
from pipelines.plan import (FOLDER as PLAN_FOLDER, compare, input_fingerprint, planned_shards, read_summary,
                            replace_plan, stored_sizes, unfinished, write_inputs, write_new_plan, write_plan,
                            write_summary)
from pipelines.progress import Progress
from pipelines.storage import require_reachable
from pipelines.report import format_funnel, write_card, write_report
from transforms.core import fileio
from transforms.formats import FORMATS
from transforms.maskers import PLANNERS
from transforms.sources import images_in, listed_keys, plan_with_summary
from transforms.stages.write import PART_EXT, paths, shard_name

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
            for sub in ("shards", "rejects", PLAN_FOLDER):
                os.makedirs(os.path.join(out, sub), exist_ok=True)
        # an exclusive create, then a compare: of two runs racing to record different configs (slices of
        # one output hold separate leases), one creates the file and the other finds it and stops
        if not fileio.create_exclusive(config_path, text.encode()):
            recorded = fileio.read_bytes(config_path).decode()
            if recorded != text and not same_as_recorded(recorded, cfg):
                raise ConfigError(f"--output {out} already holds a run made with a different config; "
                                  f"use a new output folder (or remove {out} to start over)")
    except OSError as e:
        raise lock.unwritable(out, e) from None
    except Exception as e:  # noqa: BLE001 - an object store's client error (no such bucket, access denied)
        if "://" not in out:
            raise
        raise lock.unwritable(out, e) from None


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


def clear_stale_tmp(out: str, shards: list[int]) -> None:
    """Remove temporary files a killed run left for ``shards`` (this slice's, and only those): partial
    shard files, and the part files (a sample's tar blocks) of shards not yet committed or committed just
    before the kill."""
    ours = {f"{shard_name(k)}{ext}" for k in shards for ext in (".tar", ".parquet", ".stats.json", PART_EXT)}
    for sub in ("shards", "rejects"):
        fileio.delete([path for path, target, _ in fileio.temporaries(fileio.join(out, sub)) if target in ours])


def clear_after_failure(out: str, todo: list[int], log: Callable) -> None:
    """After a run that stops on an error: delete the temporaries it made for the shards it was building
    (part files, files in progress). Finished shards stay finished; a failing delete is a note, never a
    second error over the first."""
    try:
        clear_stale_tmp(out, todo)
    except Exception as e:  # noqa: BLE001 - the store went away too; the rerun clears them
        log(f"note: could not remove this run's temporary files ({type(e).__name__}); the rerun removes them")


# Final names whose writers (a whole build's report step, ``report``: both hold OUT/lock.json) leave a
# temporary at the top of OUT when killed; slices never write them.
TOP_FILES = ("report.json", "report.html", "rejects.html", "README.md")
PLAN_TMP_AGE = 3600.0   # seconds: a plan file takes milliseconds to write; older temporaries are a killed run's


def clear_writer_tmp(out: str, part: tuple[int, int] = (0, 1)) -> None:
    """Remove the temporaries that killed plan, report and card writers left (ours by name, and only those).
    Under the whole-output lease every such temporary is stale; a slice shares plan/ with live slices, so it
    removes only plan temporaries older than PLAN_TMP_AGE."""
    folders = [(fileio.join(out, PLAN_FOLDER), lambda t: t.endswith(".json"))]
    if part[1] == 1:
        folders.append((out, lambda t: t in TOP_FILES))
    now = time.time()
    for folder, ours in folders:
        fileio.delete([path for path, target, updated in fileio.temporaries(folder)
                       if ours(target) and (part[1] == 1 or now - (updated or now) > PLAN_TMP_AGE)])


LOCAL_RUNNERS = {"FnApiRunner", "DirectRunner", "SwitchingDirectRunner", "BundleBasedDirectRunner"}
# Images per local pipeline run. The runner keeps what crosses a stage boundary (plan records, PartRefs,
# rejects: ~8 KB per image with 1 worker, ~40 KB with 2, BENCHMARKS.md section 9) until the run ends, so a
# wave of 20,000 adds at most ~0.8 GB, and restarting the workers once per wave costs < 1% of its time.
WAVE_IMAGES = 20_000


def waves(todo: list[int], options: PipelineOptions, shard_size: int, wave_images: int) -> list[list[int]]:
    """Split the shards to build into pipeline runs. Beam's local runner keeps a stage's whole output in
    memory (the small records waiting for their shard writer), so local runs go in waves of about
    ``wave_images`` images: memory stays bounded whatever the dataset size, and a run of up to
    ``wave_images`` starts its workers once. Remote runners shuffle on disk and take every shard in one run."""
    if options.view_as(StandardOptions).runner not in LOCAL_RUNNERS:
        return [todo]
    workers = options.view_as(DirectOptions).direct_num_workers or os.cpu_count() or 1
    per_wave = max(2 * workers, math.ceil(wave_images / shard_size))
    return [todo[i: i + per_wave] for i in range(0, len(todo), per_wave)]


def run_build(cfg: Config, out: str, beam_args: list[str] = (), log: Callable = print,
              part: tuple[int, int] = (0, 1), wave_images: int = WAVE_IMAGES, wait: bool = False,
              lock_timeout: float = 24.0, replan: bool = False, plan_only: bool = False) -> dict:
    """Plan, run this slice's missing shards on Beam, write the report; returns the report.

    A slice of several (``part`` = (i, n), n > 1) writes only its own shards and no report: run
    ``inpaint-pairs report OUT`` once all slices are done. It returns the funnel of its own shards.
    ``plan_only`` (``inpaint-pairs plan``) writes the plan and stops: the slices of an array that starts after
    it find the stored plan standing and read it, instead of each planning the whole input.
    The output's lease (pipelines/lock.py) is held from before the first file is touched to the end.
    """
    if "://" not in out:
        out = os.path.abspath(out)
    options = pipeline_options(beam_args)
    fileio.use_options(options)  # the driver reads inputs and writes the plan: s3:// needs the --s3_* flags
    chain = stage_chain(cfg)  # registry names checked before any work; computed once for the whole build
    if not plan_only:   # a plan step (a login node, a launcher) needs no model weights
        require_models(cfg, log, chain)
    require_reachable([*source_paths(cfg.source), ("--output", out)])   # object stores answer (seconds, not minutes)
    plan = planned(cfg, out, replan)
    with lock.held(out, part, wait=wait, timeout_hours=lock_timeout, log=log):
        return _build_locked(cfg, out, options, log, part, wave_images, replan, plan, chain, plan_only)


@dataclass
class Plan:
    """What the build plans from: the image count of each shard, the plan's summary, and the shards'
    entries when they were planned now (None when the stored plan stands). Once the plan files are
    written the entries are dropped: the driver holds no plan entry while the shards are built."""
    sizes: list[int]
    summary: dict
    shards: list | None             # of entries, or of Arrow row tables (a URL table)


def planned(cfg: Config, out: str, replan: bool) -> Plan:
    """The stored plan when the inputs are as it recorded them (nothing is read or planned again), else the
    inputs planned now (a bad input stops here, before the output is touched)."""
    sizes = None if replan else stored_sizes(out, cfg.source, listed_keys)
    if sizes is not None:
        return Plan(sizes, {"where": "", **read_summary(out)}, None)
    chooses = cfg.masks.kind in PLANNERS   # maskers that choose across images do it here, once, into the plan
    shards, summary = plan_with_summary(cfg.source, as_rows=not chooses)   # a row source's rows stay Arrow tables
    if chooses:
        shards = PLANNERS[cfg.masks.kind](shards, cfg)
    return Plan([images_in(s) for s in shards], summary, shards)


def _build_locked(cfg: Config, out: str, options: PipelineOptions, log: Callable, part: tuple[int, int],
                  wave_images: int, replan: bool, plan: Plan, chain: list, plan_only: bool) -> dict:
    sizes, summary, planned_now = plan.sizes, plan.summary, plan.shards is not None
    prepare_output(cfg, out)
    mine = [k for k in range(len(sizes)) if k % part[1] == part[0]]
    if planned_now:   # tie the plan to its inputs, write the plan files missing, then let the entries go
        if not tie_plan_to_inputs(cfg, out, plan.shards, sizes, replan, log):
            write_plan(out, plan.shards)   # the missing ones (a slice that planned the output others planned too)
        write_summary(out, summary)
        plan.shards = None
    if plan_only:
        log(f"plan: {sum(sizes)} images in {len(sizes)} shards -> {out}/{PLAN_FOLDER}"
            + ("" if planned_now else " (inputs unchanged: the stored plan stands)")
            + f"; slices of a build read it instead of planning: inpaint-pairs build ... --output {out} --slice I/N")
        return {"shards": list(range(len(sizes))), "images": sum(sizes)}
    verify.rebuild_damaged(out, mine, log)
    todo = unfinished(out, mine)
    clear_stale_tmp(out, mine)
    clear_writer_tmp(out, part)
    n_images = sum(sizes)
    where = f" (slice {part[0]}/{part[1]}: {len(mine)} shards)" if part[1] > 1 else ""
    stood = "" if planned_now else " (inputs unchanged: the stored plan stands)"
    log(f"plan: {n_images} images in {len(sizes)} shards{where}{stood}; {len(mine) - len(todo)} already done, "
        f"{len(todo)} to build -> {out}")
    if summary["where"]:
        log(f"plan: source.where {summary['where']!r} left out {summary['where_left_out']} rows")
    if "images_in_several" in summary:
        log(f"plan: {len(cfg.source.mix)} sources ({', '.join(s.name for s in cfg.source.mix)}); "
            f"{summary['images_in_several']} images named by more than one, planned once")
    if todo:
        started = time.time()
        try:
            with Progress(sum(sizes[k] for k in todo), log):
                for wave in waves(todo, options, cfg.source.shard_size, wave_images):
                    with beam.Pipeline(options=options) as p:
                        build_pipeline(p, cfg, out, wave, chain)
                    model_calls.add(out, part, model_calls.counted(p.result))
        except BaseException:   # a full disk, a stage error, Ctrl-C, SIGTERM: leave none of our temporaries
            clear_after_failure(out, todo, log)
            raise
        log(f"built {len(todo)} shards in {time.time() - started:.1f}s")
    if part[1] > 1:
        log(f"slice {part[0]}/{part[1]} done; when every slice is, run: inpaint-pairs report {out}")
        return {"shards": mine}
    report = write_report(out)
    write_card(out)
    log(format_funnel(report, FORMATS[cfg.output.format].card.unit))
    return report


def tie_plan_to_inputs(cfg: Config, out: str, shards: list, sizes: list[int], replan: bool, log: Callable) -> bool:
    """Compare the new plan with the stored one. Same: go on. Changed and no shard finished: plan again.
    Changed with finished shards: with ``replan``, unfinish and replan only the shards that changed (the
    others keep their output); without, stop with exit 2 naming what changed and the two ways forward.
    True when the output had no plan: every plan file is written here. ``sizes``: the shards' image counts."""
    if not planned_shards(out):   # a new output: write its plan files now, each serialised once
        write_inputs(out, input_fingerprint(cfg.source), write_new_plan(out, shards), sizes)
        return True
    diff = compare(out, cfg.source, shards)
    if not diff["changed"]:
        if diff["recorded"] is None or "images" not in diff["recorded"]:   # record what a later rerun reads
            write_inputs(out, diff["fingerprint"], diff["digests"], sizes)
        return False
    finished = [k for k in range(diff["stored"]) if fileio.exists(paths(out, k)["stats"])]
    what = "; ".join(diff["inputs"]) or "the source's files"
    changed = diff["changed"]
    if finished and not replan:
        hit = sorted(set(changed) & set(finished))
        raise ConfigError(
            f"--output {out} was planned from other inputs: {what}. {len(changed)} of {diff['planned']} shards "
            f"of the new plan differ ({len(hit)} of them finished). Build into a new --output, or rerun with "
            f"--replan to rebuild only the shards whose images changed (the other {len(finished) - len(hit)} "
            f"finished shards are kept)")
    verify.unfinish(out, changed)
    replace_plan(out, shards, changed)
    write_inputs(out, diff["fingerprint"], diff["digests"], sizes)
    log(f"plan: inputs changed ({what}); " + (
        f"--replan: {len(changed)} shard(s) planned again and rebuilt, {len(set(finished) - set(changed))} "
        f"finished shard(s) kept" if finished else f"no shard was finished: planned again ({len(changed)} "
        f"shard(s) changed)"))
    return False


def load_report(out: str) -> dict:
    return json.loads(fileio.read_bytes(fileio.join(out, "report.json")))
