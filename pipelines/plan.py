"""The plan files, OUT/plan/NNNNNN.json: the sole owner of their names, layout and reading.

A plan file holds one shard's ``PlanEntry``s ({"shard": k, "images": [entry, ...]}). OUT/plan/summary.json
holds what the plan left out as a whole (``source.where`` and the rows it left out), written only when a
``source.where`` is set, so outputs without one are byte for byte as before. Every slice writes
every missing plan file (same bytes whoever writes it), so the report can tell which shards of the whole
plan are missing; a slice only builds shards k with k % n == i.
"""
from __future__ import annotations

from transforms.core import fileio
from transforms.core.records import PlanEntry
from transforms.formats.shards import paths, shard_name

FOLDER = "plan"
SUMMARY = "summary.json"


def plan_path(out: str, shard: int) -> str:
    return fileio.join(out, FOLDER, f"{shard_name(shard)}.json")


def planned_shards(out: str) -> list[int]:
    """Ids of the shards the plan holds, ascending."""
    return sorted(int(n[:6]) for n in fileio.list_names(fileio.join(out, FOLDER), "[0-9]*.json") if n[:6].isdigit())


def read_entries(out: str, shard: int) -> list[PlanEntry]:
    return [PlanEntry.from_json(e) for e in fileio.read_json(plan_path(out, shard))["images"]]


def write_plan(out: str, shards: list[list[PlanEntry]], part: tuple[int, int] = (0, 1)) -> list[int]:
    """Write missing plan files; return this slice's shards not finished yet (no stats json)."""
    i, n = part
    todo = []
    for k, entries in enumerate(shards):
        path = plan_path(out, k)
        if not fileio.exists(path):
            fileio.write_json(path, {"shard": k, "images": [e.to_json() for e in entries]})
        if k % n == i and not fileio.exists(paths(out, k)["stats"]):
            todo.append(k)
    return todo


def write_summary(out: str, summary: dict) -> None:
    """OUT/plan/summary.json when ``source.where`` left rows out of the plan (same bytes whoever writes it)."""
    path = fileio.join(out, FOLDER, SUMMARY)
    if summary.get("where") and not fileio.exists(path):
        fileio.write_json(path, {"where": summary["where"], "where_left_out": summary["where_left_out"]})


def read_summary(out: str) -> dict:
    """{'where': expression, 'where_left_out': rows} of a plan made with ``source.where``, else {}."""
    path = fileio.join(out, FOLDER, SUMMARY)
    return fileio.read_json(path) if fileio.exists(path) else {}
