"""The ``inpaint-pairs`` command line.

Each subcommand is a module function pair in COMMANDS: ``add(subparsers)`` declares it, ``run(args,
beam_args)`` does it. Flags a command does not know are Beam's and pass through untouched (``--runner``,
``--direct_num_workers``, ``--setup_file``, ...). User errors print one message and exit 2.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys

from configs.schema import ConfigError, load_config

DEMO_CONFIG = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs", "demo.yaml")


def add_build(sub) -> None:
    p = sub.add_parser("build", help="build training pairs from a config (Beam flags pass through)")
    p.add_argument("--config", required=True, help="YAML recipe, e.g. configs/demo.yaml")
    p.add_argument("--output", required=True, help="output folder (local path, gs://, s3://)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key, e.g. --set filters.max_objects=3 (repeatable)")


def run_build(args, beam_args) -> None:
    from pipelines.build import run_build as build
    build(load_config(args.config, args.set), args.output, beam_args)


def add_demo(sub) -> None:
    p = sub.add_parser("demo", help="build the shipped demo set (configs/demo.yaml) into out/demo")
    p.add_argument("--output", default="out/demo")


def run_demo(args, beam_args) -> None:
    from pipelines.build import run_build as build
    report = build(load_config(DEMO_CONFIG), args.output, beam_args)
    out = os.path.abspath(args.output)
    print(f"\ndemo: {report['pairs']} pairs in {out}/shards/*.tar; report: {out}/report.html")


COMMANDS = {  # name -> (declare, run)
    "build": (add_build, run_build),
    "demo": (add_demo, run_demo),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="inpaint-pairs", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for add, _ in COMMANDS.values():
        add(sub)
    args, beam_args = parser.parse_known_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger().setLevel(logging.ERROR)  # Beam's import-time notices about cloud clients
    try:
        COMMANDS[args.command][1](args, beam_args)
    except ConfigError as e:
        print(f"inpaint-pairs: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
