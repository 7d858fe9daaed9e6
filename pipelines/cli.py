"""The ``inpaint-pairs`` command line.

Each subcommand is a module function pair in COMMANDS: ``add(subparsers)`` declares it, ``run(args,
beam_args)`` does it. Flags a command does not know are Beam's and pass through untouched (``--runner``,
``--direct_num_workers``, ``--setup_file``, ...). User errors print one message and exit 2; Ctrl-C (130),
SIGTERM (143), a full disk (1) and a read-only output (2) print one message too (pipelines/exits.py).

Each ``run_*`` imports what its command needs when it runs (Beam, webdataset and through it torch take
seconds), so ``--help`` and argument errors answer at once; no import here breaks a cycle.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys

from configs.schema import ConfigError, load_config
from pipelines import exits
from pipelines.check import add_check, run_check
from pipelines.storage import storage_options

DEMO_CONFIG = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs", "demo.yaml")


def add_build(sub) -> None:
    p = sub.add_parser("build", help="build training pairs from a config (Beam flags pass through)")
    p.add_argument("--config", required=True, help="YAML recipe, e.g. configs/demo.yaml")
    p.add_argument("--output", required=True, help="output folder (local path, gs://, s3://)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key, e.g. --set filters.max_objects=3 (repeatable)")
    p.add_argument("--slice", default=None, metavar="I/N",
                   help="build only shards k with k %% N == I (default: Slurm's SLURM_ARRAY_TASK_ID/COUNT "
                        "when set, else all)")


    add_lock_flags(p)
    p.add_argument("--replan", action="store_true",
                   help="the inputs changed since OUTPUT was planned: plan again and rebuild only the shards "
                        "whose images changed (finished shards that did not change are kept)")
    p.add_argument("--wave-images", type=int, default=None, metavar="N",
                   help="local runner only: build about N images per pipeline run (its workers start once), so "
                        "memory stays bounded (default 20,000: pipelines/run.py WAVE_IMAGES)")


def add_plan(sub) -> None:
    p = sub.add_parser("plan", help="plan a build and stop (once, before a Slurm array's slices: each then reads "
                                    "the stored plan instead of planning the whole input)")
    p.add_argument("--config", required=True, help="YAML recipe, e.g. configs/pipe_mix.yaml")
    p.add_argument("--output", required=True, help="output folder the build will write (local path, gs://, s3://)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key, as the build will (repeatable)")
    add_lock_flags(p)
    p.add_argument("--replan", action="store_true",
                   help="as build --replan: the inputs changed since OUTPUT was planned")


def run_plan(args, beam_args) -> None:
    from pipelines.run import run_build as build
    build(load_config(args.config, args.set), args.output, beam_args, wait=args.wait,
          lock_timeout=args.lock_timeout, replan=args.replan, plan_only=True)


def add_lock_flags(p) -> None:
    p.add_argument("--wait", action="store_true",
                   help="another run is writing OUTPUT: wait for it to finish instead of stopping")
    p.add_argument("--lock-timeout", type=float, default=24.0, metavar="HOURS",
                   help="take over the lease of a run on another host after this many hours (default 24; a "
                        "dead process on this host is taken over at once)")


def run_build(args, beam_args) -> None:
    from pipelines.run import WAVE_IMAGES, parse_slice, run_build as build
    part = parse_slice(args.slice, dict(os.environ))
    build(load_config(args.config, args.set), args.output, beam_args, part=part,
          wave_images=args.wave_images or WAVE_IMAGES, wait=args.wait, lock_timeout=args.lock_timeout,
          replan=args.replan)


def add_demo(sub) -> None:
    p = sub.add_parser("demo", help="build the shipped demo set (configs/demo.yaml) into out/demo")
    p.add_argument("--output", default="out/demo")


def run_demo(args, beam_args) -> None:
    from pipelines.run import run_build as build
    report = build(load_config(DEMO_CONFIG), args.output, beam_args)
    out = os.path.abspath(args.output)
    print(f"\ndemo: {report['pairs']} pairs in {out}/shards/*.tar; report: {out}/report.html")


def add_report(sub) -> None:
    p = sub.add_parser("report", help="re-merge finished shards into report.json/.html, rejects.html, README.md")
    p.add_argument("output", help="an output folder of build")
    add_lock_flags(p)


def run_report(args, extra) -> None:
    storage_options(extra, "report", [("OUTPUT", args.output)])
    from pipelines import lock
    from pipelines.outputs import output_format, require_output
    from pipelines.report import format_funnel, write_card, write_report
    require_output(args.output)
    from pipelines.run import clear_writer_tmp
    with lock.held(args.output, wait=args.wait, timeout_hours=args.lock_timeout):   # it writes the report files
        clear_writer_tmp(args.output)
        report = write_report(args.output)
        write_card(args.output)
    print(format_funnel(report, output_format(args.output).card.unit))


def add_preview(sub) -> None:
    p = sub.add_parser("preview", help="gallery of sample pairs of an output (HTML, and a PNG contact sheet)")
    p.add_argument("output", help="an output folder of build")
    p.add_argument("--n", type=int, default=64, help="pairs to show (default 64)")
    p.add_argument("--png", help="also write a contact sheet to this PNG file")
    p.add_argument("--html", help="where to write the gallery (default OUTPUT/preview.html)")


def run_preview(args, extra) -> None:
    storage_options(extra, "preview", [("OUTPUT", args.output)])
    from pipelines.report import preview
    done = preview(args.output, args.n, args.png, args.html)
    print(f"preview: {done['pairs']} pairs -> {done['html']}" + (f" and {done['png']}" if done["png"] else ""))


def add_export(sub) -> None:
    p = sub.add_parser("export", help="write an output as PIPE's parquet (HF datasets) or in Paint by Example's "
                                      "training layout, with a dataset card")
    p.add_argument("output", help="an output folder of build")
    p.add_argument("--format", choices=list(EXPORTS), default="pipe",
                   help="pipe: PIPE's release schema (output.format pipe); paint_by_example: Paint by Example's "
                        "images/ and bbox/ folders (output.format paint_by_example)")
    p.add_argument("--to", required=True, help="a new local folder for the exported files and README.md")
    p.add_argument("--with-masks", action="store_true", help="pipe: also write PIPE_Masks' table to TO/masks/")
    p.add_argument("--test-fraction", type=float, default=None,
                   help="share of source images in the test split (default 0.01, at least one image; 0: no test split)")
    p.add_argument("--test-images", type=int, default=None, help="or: this many source images in the test split")
    p.add_argument("--dataset-name", default=None,
                   help="pipe: target_img_dataset (default: the source's proper name, COCO, LVIS, OpenImages or LAION)")


def run_export(args, extra) -> None:
    storage_options(extra, "export", [("OUTPUT", args.output), ("--to", args.to)])
    from pipelines.outputs import require_output
    require_output(args.output)
    EXPORTS[args.format](args)
    print(f"export: {args.to} (card: {os.path.join(args.to, 'README.md')})")


def export_pipe(args) -> None:
    from pipelines.export import export_pipe as export
    done = export(args.output, args.to, args.with_masks, args.test_fraction,
                  test_count=args.test_images, name=args.dataset_name)
    masks = {f"masks {s}": v for s, v in (done["masks"] or {}).items()}
    for name, split in {**done["splits"], **masks}.items():
        print(f"export: {name}: {split['num_examples']} rows in {len(split['files'])} file(s)")
    print(f"export: test split: {done['test_images']} whole source image(s)")


def export_paint_by_example(args) -> None:
    for flag, given in (("--with-masks", args.with_masks), ("--dataset-name", args.dataset_name is not None)):
        if given:
            raise ConfigError(f"{flag}: a PIPE export option; --format paint_by_example writes images and boxes "
                              f"only, leave it out")
    from pipelines.export_pbe import export_pbe
    done = export_pbe(args.output, args.to, args.test_fraction, args.test_images)
    for d, v in done["folders"].items():
        print(f"export: {d}: {v['images']} images, {v['triplets']} boxes")
    print(f"export: test split: {done['test_images']} whole source image(s), validation: "
          f"{done['validation_images']}")


EXPORTS = {"pipe": export_pipe, "paint_by_example": export_paint_by_example}   # --format -> its runner


def add_retune(sub) -> None:
    p = sub.add_parser("retune", help="the funnel new thresholds would give, from the recorded scores (no models)")
    p.add_argument("output", help="an output folder of build")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                   help="a threshold, e.g. quality.max_consensus=0.12 (repeatable)")


def run_retune(args, extra) -> None:
    storage_options(extra, "retune", [("OUTPUT", args.output)])
    from pipelines.outputs import require_output
    from pipelines.report import format_retune, parse_retune_sets, retune_funnel
    require_output(args.output)
    new, rebuild = parse_retune_sets(args.sets)
    print(format_retune(retune_funnel(args.output, new), rebuild))


def add_verify(sub) -> None:
    p = sub.add_parser("verify", help="check every finished shard's files against the sizes and sha256 its "
                                      "stats json recorded")
    p.add_argument("output", help="an output folder of build")
    p.add_argument("--repair", action="store_true",
                   help="remove the damaged shards' commit markers and files, so a rerun of the build rebuilds "
                        "exactly those")


def run_verify(args, extra) -> int:
    """Exit 0 when every finished shard is intact (or was repaired), 1 when damage was found and left."""
    storage_options(extra, "verify", [("OUTPUT", args.output)])
    from pipelines.outputs import finished_shards, require_output
    from pipelines.verify import damaged, unfinish
    from tqdm import tqdm
    require_output(args.output)
    shards = finished_shards(args.output)
    with tqdm(total=len(shards), unit="shard", desc="verify", disable=len(shards) < 50) as bar:
        found = damaged(args.output, deep=True, progress=bar.update)
    for k, why in sorted(found.items()):
        print(f"shard {k:06d}: {why}")
    print(f"verify: {len(found)} of {len(shards)} finished shards damaged")
    if found and args.repair:
        unfinish(args.output, sorted(found))
        print(f"verify: removed the commit markers and files of {len(found)} shard(s); rerun the build command "
              f"(same config, same --output) to rebuild exactly those")
    elif found:
        print("verify: rerun with --repair to mark them unfinished, then rerun the build")
        return 1
    return 0


COMMANDS = {  # name -> (declare, run)
    "build": (add_build, run_build),
    "plan": (add_plan, run_plan),
    "demo": (add_demo, run_demo),
    "report": (add_report, run_report),
    "preview": (add_preview, run_preview),
    "export": (add_export, run_export),
    "check": (add_check, run_check),
    "retune": (add_retune, run_retune),
    "verify": (add_verify, run_verify),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="inpaint-pairs", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for add, _ in COMMANDS.values():
        add(sub)
    args, beam_args = parser.parse_known_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger().setLevel(logging.ERROR)  # Beam's import-time notices about cloud clients
    exits.raise_on_sigterm()
    try:
        code = COMMANDS[args.command][1](args, beam_args)
    except ConfigError as e:
        print(f"inpaint-pairs: error: {e}", file=sys.stderr)
        return 2
    except (Exception, KeyboardInterrupt, exits.Terminated) as e:
        return _stopped(e, getattr(args, "output", "") or "")
    return code or 0


def _stopped(e: BaseException, output: str) -> int:
    """One message and its exit code for an interrupt, a full disk or a read-only output; others re-raise."""
    known = exits.message(e, output)
    if known is None:
        raise e
    code, text = known
    print(f"inpaint-pairs: {text}", file=sys.stderr)
    if code in (130, 143):   # the runner's worker threads would keep a stopped process alive
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


def entry() -> None:
    """The ``inpaint-pairs`` script: ``main``, then, after a failure, an exit that skips the interpreter's
    teardown. pyarrow's parquet threads can abort a finishing interpreter (``terminate called without an
    active exception``, apache/arrow#34314): a run that printed its one message must still exit with its
    code, not 134. The streams are flushed first; every file of ours is closed by then."""
    code = main()
    if code:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":
    entry()
