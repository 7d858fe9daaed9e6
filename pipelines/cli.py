"""The ``inpaint-pairs`` command line: build, demo.

Flags this command does not know are Beam's and pass through untouched (``--runner``,
``--direct_num_workers``, ``--setup_file``, ...). User errors print one message and exit 2.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys

from configs.schema import ConfigError, load_config

HERE = os.path.dirname(os.path.abspath(__file__))
DEMO_CONFIG = os.path.join(os.path.dirname(HERE), "configs", "demo.yaml")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="inpaint-pairs", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build", help="build training pairs from a config (Beam flags pass through)")
    build.add_argument("--config", required=True, help="YAML recipe, e.g. configs/demo.yaml")
    build.add_argument("--output", required=True, help="output folder (local path, gs://, s3://)")
    build.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help="override a config key, e.g. --set filters.max_objects=3 (repeatable)")
    demo = sub.add_parser("demo", help="build the shipped demo set into out/demo")
    demo.add_argument("--output", default="out/demo")
    return parser


def main(argv: list[str] | None = None) -> int:
    args, beam_args = _parser().parse_known_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from pipelines.build import run_build  # after parsing: --help stays fast
    try:
        if args.command == "demo":
            cfg = load_config(DEMO_CONFIG)
            report = run_build(cfg, args.output, beam_args)
            out = os.path.abspath(args.output)
            print(f"\ndemo: {report['pairs']} pairs in {out}/shards/*.tar; report: {out}/report.html")
        else:
            cfg = load_config(args.config, args.set)
            run_build(cfg, args.output, beam_args)
    except ConfigError as e:
        print(f"inpaint-pairs: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
