"""``inpaint-pairs check``: validate a config and say, for every model its stages need, where it is.

Nothing is loaded and nothing is downloaded. Exit 0 when every model can be loaded here, 2 (with the
models at fault, each with how to get it) otherwise.
"""
from __future__ import annotations

import os

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
    from pipelines.plan import input_fingerprint
    paths = source_paths(cfg.source)
    unreachable = reachable(paths)    # an object store's bucket, probed once (seconds)
    sizes = input_fingerprint(cfg.source)
    memory = physical_memory()
    for key, path in paths:
        if key in unreachable:
            status = "unreachable"
        else:
            status = "found" if fileio.present(path) else "missing"
        need = planning_memory(path, sizes[key]["bytes"]) if key in sizes and key.endswith("annotations") else None
        if need and memory and need > memory:
            status = "too large"
        problems += status != "found"
        size = f" ({sizes[key]['files']} file(s), {sizes[key]['bytes'] / 1e6:.3g} MB" + (
            f"; planning holds ~{need / 1e9:.1f} GB in the driver, this machine has {memory / 1e9:.0f} GB)"
            if need else ")") if key in sizes else ""
        lines.append(f"{'input':<{w_stage}} {key:<26} {status:<11} {path}{size}"
                     + (f"\n{'':<{w_stage}}   -> {unreachable[key]}" if key in unreachable else ""))
    if not rows:
        return lines + ["models: none (the CPU default)"], problems
    from model_wrappers.registry import format_rows
    return lines + format_rows(rows), problems + sum(r.blocking for r in rows)


# Driver memory while planning, as measured (BENCHMARKS.md, "Planning"): a COCO/LVIS json is held as its bytes
# and small records (1.0 GB above the imports for a compact train2017-size file of 543 MB; a file with blanks
# inside its segmentations up to ~2.7x); a parquet URL table is held as Arrow tables, about 3x its columns'
# uncompressed size (0.38 GB for 1M LAION-style rows of 105 MB).
JSON_FACTOR, TABLE_FACTOR = 2.0, 3.5


def planning_memory(path: str, size: int) -> int | None:
    """Bytes the driver holds while planning the annotation file or table ``path`` (``size`` bytes in all);
    None where no measurement says (CSV tables, globs over many files)."""
    if path.endswith(".json"):
        return int(size * JSON_FACTOR)
    if path.endswith(".parquet") and not any(c in path for c in "*?["):
        import pyarrow.parquet as pq
        from transforms.core import fileio
        with fileio.open_read(path) as f:
            meta = pq.ParquetFile(f).metadata
        return int(sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups)) * TABLE_FACTOR)
    return None


def physical_memory() -> int:
    """This machine's memory in bytes (0 where the OS does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 0


def run_check(args, extra) -> None:
    storage_options(extra, "check")
    lines, problems = check_report(load_config(args.config, args.set))
    print(f"config {args.config}: valid")
    print("\n".join(lines))
    if problems:
        raise ConfigError(f"{problems} input(s) or model(s) missing, of the wrong kind or too large to plan "
                          f"here; see above")
