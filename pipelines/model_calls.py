"""How full a build's model calls were, per model stage: calls, rows, rows per call, seconds in the model.

Each pipeline run's Beam counters (model_wrappers/base.py ``UnitHandler``, types.py MODEL_NAMESPACE) are added to
``OUT/model_calls/slice-I-of-N.json`` (one file per slice, so concurrent slices never write one file); the
report sums them into report.json's ``model_calls`` and the console funnel ends with them. They count every
build of this output, resumes included; the plan fixes the rows of each call, the seconds are this machine's.
"""
from __future__ import annotations

from apache_beam.metrics.metric import MetricsFilter

from model_wrappers.types import MODEL_NAMESPACE
from pipelines.chain import order
from transforms.core import fileio

FOLDER = "model_calls"
FIELDS = ("calls", "rows", "micros")


def counted(result) -> dict[str, dict[str, int]]:
    """{stage: {calls, rows, micros}} from a finished Beam pipeline result's counters."""
    found: dict[str, dict[str, int]] = {}
    try:
        counters = result.metrics().query(MetricsFilter().with_namespace(MODEL_NAMESPACE))["counters"]
    except Exception:  # noqa: BLE001 - a runner that keeps no metrics: the shards are what counts
        return found
    for c in counters:
        stage, _, name = c.key.metric.name.rpartition("/")
        value = c.committed if c.committed is not None else c.attempted
        row = found.setdefault(stage, dict.fromkeys(FIELDS, 0))
        row[name] = row.get(name, 0) + int(value or 0)
    return found


def _path(out: str, part: tuple[int, int]) -> str:
    return fileio.join(out, FOLDER, f"slice-{part[0]}-of-{part[1]}.json")


def add(out: str, part: tuple[int, int], counts: dict[str, dict[str, int]]) -> None:
    """Add one pipeline run's ``counts`` to this slice's file (nothing to add: nothing written)."""
    if not counts:
        return
    path = _path(out, part)
    total = fileio.read_json(path) if fileio.exists(path) else {}
    for stage, row in counts.items():
        mine = total.setdefault(stage, dict.fromkeys(FIELDS, 0))
        for name in FIELDS:
            mine[name] += row.get(name, 0)
    fileio.write_json(path, total)


def recorded(out: str) -> dict[str, dict]:
    """{stage: {calls, rows, rows_per_call, seconds}} summed over the slices' files, in stage order; {} when
    none ran."""
    total: dict[str, dict[str, int]] = {}
    folder = fileio.join(out, FOLDER)
    for name in fileio.list_names(folder, "slice-*.json"):
        for stage, row in fileio.read_json(fileio.join(folder, name)).items():
            mine = total.setdefault(stage, dict.fromkeys(FIELDS, 0))
            for name in FIELDS:
                mine[name] += int(row.get(name, 0))
    known = order()
    place = {stage: (known.index(stage) if stage in known else -1, stage) for stage in total}  # donors first
    return {stage: {"calls": r["calls"], "rows": r["rows"],
                    "rows_per_call": round(r["rows"] / r["calls"], 2) if r["calls"] else 0.0,
                    "seconds": round(r["micros"] / 1e6, 3)} for stage, r in sorted(total.items(),
                                                                                    key=lambda kv: place[kv[0]])}


def format_calls(calls: dict[str, dict]) -> list[str]:
    """The funnel's closing lines: one per model stage."""
    if not calls:
        return []
    width = max(len("model stage"), *(len(s) for s in calls))
    lines = [f"  {'model stage':<{width}} {'calls':>7} {'rows':>7} {'rows/call':>9} {'seconds':>9}"]
    lines += [f"  {s:<{width}} {r['calls']:>7} {r['rows']:>7} {r['rows_per_call']:>9} {r['seconds']:>9}"
              for s, r in calls.items()]
    return lines
