"""The house's floors, read from the source: module-level imports form no cycle, nothing low imports anything
higher, and a project import inside a function is one of the few lazy ones kept on purpose (heavy packages
or per-command CLI start-up), never a way to break a cycle.

Floors, lowest first: configs -> model_wrappers.types and transforms.core -> the other model_wrappers, and
the role folders of transforms with transforms.stages (load, filter, blend, write) beside them -> pipelines.
"""
from __future__ import annotations

import ast
import os

from helpers import ROOT

PACKAGES = ("configs", "transforms", "model_wrappers", "pipelines")
# Function-level project imports that are lazy on purpose (each carries its reason in a comment there).
LAZY = {
    ("pipelines.cli", "pipelines.run"), ("pipelines.cli", "pipelines.outputs"), ("pipelines.cli", "pipelines.report"),
    ("pipelines.cli", "pipelines.export"), ("pipelines.cli", "pipelines.export_pbe"),
    ("pipelines.check", "pipelines.chain"),
    ("pipelines.check", "model_wrappers.registry"), ("pipelines.chain", "model_wrappers.registry"),
    ("pipelines.build", "model_wrappers.base"),
    ("pipelines.cli", "pipelines.lock"), ("pipelines.cli", "pipelines.verify"),
    ("pipelines.storage", "transforms.core.fileio"), ("pipelines.check", "transforms.core.fileio"),
    ("pipelines.check", "pipelines.plan"),
}


def floor(module: str) -> int:
    if module.startswith("configs"):
        return 0
    if module.startswith(("transforms.core", "model_wrappers.types")):
        return 1
    if module.startswith(("transforms", "model_wrappers")):
        return 2
    return 3


def modules() -> dict[str, str]:
    found = {}
    for pkg in PACKAGES:
        for folder, _, files in os.walk(os.path.join(ROOT, pkg)):
            for name in files:
                if name.endswith(".py"):
                    rel = os.path.relpath(os.path.join(folder, name), ROOT)[:-3].replace(os.sep, ".")
                    found[rel.removesuffix(".__init__")] = os.path.join(folder, name)
    return found


def _target(node: ast.ImportFrom, known: set[str]) -> list[str]:
    base = node.module or ""
    names = [f"{base}.{a.name}" for a in node.names]
    return [n if n in known else base for n in names if base.split(".")[0] in PACKAGES]


def imports(path: str, known: set[str]) -> tuple[set[str], set[str]]:
    """(project modules imported at module level, project modules imported inside functions)."""
    tree = ast.parse(open(path).read())
    top, inner = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            found = _target(node, known)
        elif isinstance(node, ast.Import):
            found = [a.name for a in node.names if a.name.split(".")[0] in PACKAGES]
        else:
            continue
        in_function = any(isinstance(p, (ast.FunctionDef, ast.AsyncFunctionDef))
                          and node in ast.walk(p) for p in ast.walk(tree))
        type_only = any(isinstance(p, ast.If) and "TYPE_CHECKING" in ast.unparse(p.test) and node in ast.walk(p)
                        for p in ast.walk(tree))
        if not type_only:
            (inner if in_function else top).update(found)
    return top, inner


def graph() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    mods = modules()
    known = set(mods)
    top, inner = {}, {}
    for name, path in mods.items():
        top[name], inner[name] = imports(path, known)
    return top, inner


def test_no_import_cycle():
    top, _ = graph()
    state: dict[str, int] = {}

    def visit(m: str, stack: list[str]) -> None:
        state[m] = 1
        for dep in sorted(top.get(m, ())):
            if dep not in top:
                continue
            assert state.get(dep) != 1, "import cycle: " + " -> ".join(stack + [m, dep])
            if dep not in state:
                visit(dep, stack + [m])
        state[m] = 2

    for m in sorted(top):
        if m not in state:
            visit(m, [])


def test_nothing_low_imports_anything_higher():
    top, inner = graph()
    bad = [(m, d) for m, deps in top.items() for d in deps if d in top and floor(d) > floor(m)]
    bad += [(m, d) for m, deps in inner.items() for d in deps if d in top and floor(d) > floor(m)]
    assert not bad, bad


def test_function_level_project_imports_are_only_the_deliberate_lazy_ones():
    _, inner = graph()
    found = {(m, d) for m, deps in inner.items() for d in deps}
    assert found <= LAZY, sorted(found - LAZY)


def test_the_role_folders_do_not_import_each_other_but_through_core():
    """A role folder (or stages/, the stages every chain runs) may use core and configs; sideways imports
    between them are the exceptions listed."""
    allowed = {("transforms.formats.brushdata", "transforms.stages.filter"),   # BrushData keeps images whole
               ("transforms.maskers.donors", "transforms.stages.filter"),      # a donor mask meets the filter's rules
               ("transforms.stages.load", "transforms.sources.mask_files"),    # masks a source names by file
               ("transforms.sources", "transforms.sources.coco")}
    top, _ = graph()
    roles = ("sources", "maskers", "removers", "quality", "language", "formats", "stages")
    bad = []
    for m, deps in top.items():
        parts = m.split(".")
        if len(parts) < 2 or parts[0] != "transforms" or parts[1] not in roles:
            continue
        for d in deps:
            dp = d.split(".")
            if dp[0] == "transforms" and len(dp) > 1 and dp[1] in roles and dp[1] != parts[1]:
                if (m, d) not in allowed:
                    bad.append((m, d))
    assert not bad, bad
