"""``inpaint-pairs check``: validate a config and say, for every model its stages need, where it is.

Nothing is loaded and nothing is downloaded. Exit 0 when every model can be loaded here, 2 (with the
models at fault, each with how to get it) otherwise.
"""
from __future__ import annotations

from configs.schema import Config, ConfigError, load_config, source_paths
from pipelines.storage import reachable, storage_options


def add_check(sub) -> None:
    p = sub.add_parser("check", help="validate a config and report each model it needs: found or missing")
    p.add_argument("--config", required=True, help="YAML recipe, e.g. configs/pipe_coco.yaml")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key, e.g. --set describe.vlm.model=/models/llava (repeatable)")


def check_report(cfg: Config) -> tuple[list[str], int]:
    """(lines to print, number of blocking problems) for a loaded config; one aligned table of the inputs
    and the models, whatever the length of a stage name (importance_dino, clip_prefilter)."""
    from pipelines.chain import DONOR_STAGE, model_handlers, stage_chain  # they import Beam: only when checking
    handlers = model_handlers(cfg)
    stages = [name for name, _, _ in stage_chain(cfg)]
    if any(stage == DONOR_STAGE for stage, _ in handlers):   # BrushData-v2's model pass runs before the chain
        stages.insert(0, f"{DONOR_STAGE} ({cfg.masks.borrowed.donors}, a first pass over each shard)")
    rows = []
    if handlers:
        from model_wrappers.registry import model_status  # imports torch (seconds): only when a model is named
        rows = model_status(handlers)
    w_stage = max([9] + [len(r.stage) for r in rows])
    lines, problems = ["stages: " + " -> ".join(stages)], 0
    from transforms.core import fileio   # Beam's FileSystems: only when checking
    paths = source_paths(cfg.source)
    unreachable = reachable(paths)    # an object store's bucket, probed once (seconds)
    for key, path in paths:
        if key in unreachable:
            status = "unreachable"
        else:
            status = "found" if fileio.present(path) else "missing"
        problems += status != "found"
        lines.append(f"{'input':<{w_stage}} {key:<26} {status:<11} {path}"
                     + (f"\n{'':<{w_stage}}   -> {unreachable[key]}" if key in unreachable else ""))
    if not rows:
        return lines + ["models: none (the CPU default)"], problems
    from model_wrappers.registry import format_rows
    return lines + format_rows(rows), problems + sum(r.blocking for r in rows)


def run_check(args, extra) -> None:
    storage_options(extra, "check")
    lines, problems = check_report(load_config(args.config, args.set))
    print(f"config {args.config}: valid")
    print("\n".join(lines))
    if problems:
        raise ConfigError(f"{problems} input(s) or model(s) missing or of the wrong kind; see above")
