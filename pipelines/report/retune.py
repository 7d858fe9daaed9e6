"""``inpaint-pairs retune OUT --set quality.max_consensus=0.12 ...``: the funnel a rebuild with new thresholds
would give, recomputed from the scores a run recorded (sidecars' metadata_json, rejects' ``scores``), without
running any model.

Each candidate walks the run's stages in order. At a scored stage it is dropped when its recorded score fails
the new threshold (filter rules in their precedence order); a candidate the run dropped at a scored stage that
the new threshold would pass has no scores for the later stages: it is counted as ``unknown`` (only a rebuild
tells), and the table says so. Drops at stages without a threshold stay where they were.
"""
from __future__ import annotations

from configs.errors import ConfigError
from configs.schema import QualityConfig
from pipelines.report.funnel import build_report, collect
from pipelines.report.scores import passes, scored, switchable, recorded, read_config, thresholds

# keys a rebuild must apply: their effect is not a per-candidate test of a recorded score
REBUILD_ONLY = {"filters.max_objects": "caps the survivors per image, largest first (depends on the others)",
                "quality.stages": "which filters run (new stages have no recorded scores)"}
MARGIN = "quality.removal_margin"


def parse_sets(items: list[str]) -> tuple[dict[str, float], list[str]]:
    """``key=value`` items -> (thresholds to re-apply, rebuild-only keys); a key that is neither is an error."""
    known = {k for _, _, _, keys in scored() for k, _ in keys} | {MARGIN}
    nullable = switchable()
    new, rebuild = {}, []
    for item in items:
        key, sep, raw = item.partition("=")
        if key in REBUILD_ONLY:
            rebuild.append(key)
            continue
        if not sep or key not in known:
            raise ConfigError(f"retune --set {item!r}: not a threshold retune can re-apply; it knows "
                              f"{', '.join(sorted(known))} (and names {', '.join(REBUILD_ONLY)} as rebuild-only)")
        if raw.strip() in ("null", "~") and key in nullable:
            new[key] = None
            continue
        try:
            new[key] = float(raw)
        except ValueError:
            off = " or null (switches it off)" if key in nullable else ""
            raise ConfigError(f"retune --set {key}: {raw!r} is not a number{off}") from None
    return new, rebuild


def _fails(score: str, scores: dict, limits: dict, margin: float, keys: list) -> bool:
    value = scores[score]
    if score == "removal_score":   # the removal stage's exception: kept when the object's score fell by > margin
        original = scores.get("removal_score_original")
        if original is not None and original - value > margin:
            return False
    return not passes(float(value), keys, limits)


def _looser(stage: str, limits: dict, now: dict, table: tuple) -> bool:
    """Whether ``limits`` let through at ``stage`` something ``now`` dropped (None: switched off, keeps all)."""
    def looser(new, old, direction):
        if old is None or new is None:
            return old is not None
        return new < old if direction == "min" else new > old
    return any(looser(limits[k], now[k], d) for _, s, _, keys in table if s == stage for k, d in keys)


def outcome(row: dict, stages: list[str], limits: dict, margin: float, now: dict, table: tuple) -> str:
    """The stage a candidate stops at under ``limits`` ('' = becomes a pair, 'unknown' = only a rebuild tells;
    ``now``: the run's thresholds, for drops whose score was not recorded, e.g. removal_score's; ``table``:
    ``scored()``)."""
    for stage in stages:
        for score, s, reasons, keys in table:
            if s == stage and score in row["scores"] and _fails(score, row["scores"], limits, margin, keys):
                return stage
        if row["stage"] == stage:
            scored_here = any(s == stage and (reasons is None or row["reason"] in reasons)
                              for _, s, reasons, _ in table)
            return "unknown" if scored_here and _looser(stage, limits, now, table) else stage
    return ""


def retune(out: str, new: dict[str, float]) -> list[dict]:
    """[{'stage', 'kept_now', 'kept_new'}] per stage of the run, then 'unknown' (candidates only a rebuild
    places) and 'pairs'."""
    config = read_config(out)
    now = thresholds(config)
    margin_now = float((config.get("quality") or {}).get("removal_margin", QualityConfig().removal_margin))
    limits, margin = {**now, **{k: v for k, v in new.items() if k != MARGIN}}, new.get(MARGIN, margin_now)
    rows = recorded(out)
    stages = [s for s in read_stages(out) if s]
    declared = scored()
    was = [outcome(r, stages, now, margin_now, now, declared) for r in rows]
    will = [outcome(r, stages, limits, margin, now, declared) for r in rows]
    table, left_now, left_new = [], len(rows), len(rows) - will.count("unknown")
    for stage in stages:
        left_now -= was.count(stage)
        left_new -= will.count(stage)
        table.append({"stage": stage, "kept_now": left_now, "kept_new": left_new})
    table.append({"stage": "unknown", "kept_now": 0, "kept_new": will.count("unknown")})
    table.append({"stage": "pairs", "kept_now": was.count(""), "kept_new": will.count("")})
    return table


def read_stages(out: str) -> list[str]:
    return [r["stage"] for r in build_report(*collect(out))["stages"]]


def format_table(table: list[dict], rebuild: list[str]) -> str:
    width = max(len(r["stage"]) for r in table) + 2
    lines = [f"{'stage':<{width}}{'kept now':>10}{'kept new':>10}"]
    lines += [f"{r['stage']:<{width}}{r['kept_now']:>10}{r['kept_new']:>10}" for r in table]
    unknown = next(r["kept_new"] for r in table if r["stage"] == "unknown")
    if unknown:
        lines.append(f"{unknown} candidate(s) the run dropped would pass the new thresholds: they have no "
                     f"scores for later stages, so 'kept new' is a lower bound; a rebuild places them")
    lines += [f"{k}: only a rebuild applies it ({REBUILD_ONLY[k]})" for k in rebuild]
    return "\n".join(lines)
