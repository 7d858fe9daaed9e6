"""``source.where`` applied to a table's rows with pyarrow compute (the parsing is configs/schema/where.py).

A row is kept when the expression is true; false and null (an empty cell, a sample without the column in
its json) leave it out. Rows left out are counted, not listed: ``Selection.left_out`` goes into the plan's
summary (pipelines/plan.py) and from there into report.json, the funnel and the card.
"""
from __future__ import annotations

import ast
import operator
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from configs.schema import ConfigError
from configs.schema.where import KEY, parse_where, where_columns

_OPS = {ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
        ast.Gt: operator.gt, ast.GtE: operator.ge}


@dataclass(frozen=True)
class Selection:
    """Row indices (into the table as read) kept, and how many rows before the last kept one were left out."""
    rows: list[int]
    left_out: int


def column_map(tree: ast.Expression, names: list[str], path: str) -> dict[str, str]:
    """Expression name -> table column (exact, else equal ignoring case); ConfigError naming the missing one."""
    found = {}
    for name in where_columns(tree):
        folded = [n for n in names if n.lower() == name.lower()]
        col = name if name in names else folded[0] if len(folded) == 1 else None
        if col is None:
            raise ConfigError(f"{KEY}: no column {name!r} in {path}; its columns: {', '.join(names) or '(none)'}; "
                              f"name one of them or remove it from {KEY}")
        found[name] = col
    return found


def _compile(node: ast.AST, cols: dict[str, str]) -> pc.Expression:
    if isinstance(node, ast.Expression):
        return _compile(node.body, cols)
    if isinstance(node, ast.BoolOp):
        parts = [_compile(v, cols) for v in node.values]
        join = operator.and_ if isinstance(node.op, ast.And) else operator.or_
        out = parts[0]
        for p in parts[1:]:
            out = join(out, p)
        return out
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return ~_compile(node.operand, cols)
    if isinstance(node, ast.UnaryOp):      # '-' before a number (the only other unary parse_where keeps)
        return pc.scalar(-node.operand.value)
    if isinstance(node, ast.Compare):
        terms = [_compile(t, cols) for t in (node.left, *node.comparators)]
        tests = [_OPS[type(op)](a, b) for op, a, b in zip(node.ops, terms, terms[1:])]
        out = tests[0]
        for t in tests[1:]:
            out = out & t
        return out
    if isinstance(node, ast.Name):
        return pc.field(cols[node.id])
    return pc.scalar(node.value)


def select_rows(where: str, table: pa.Table, path: str, budget: int = 0) -> Selection:
    """Rows of ``table`` where ``where`` holds, the first ``budget`` of them (0 = all); ConfigError naming
    ``source.where`` for a missing column or a comparison the column's type does not allow."""
    n = table.num_rows
    if not where.strip():
        keep = list(range(min(n, budget) if budget else n))
        return Selection(keep, 0)
    tree = parse_where(where)
    expr = _compile(tree, column_map(tree, table.column_names, path))
    try:   # filter a row-number column along: the kept row numbers are the answer (null counts as false)
        marked = table.append_column("__row", pa.array(range(n), pa.int64()))
        hits = marked.filter(expr, null_selection_behavior="drop").column("__row").to_pylist()
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid, pa.ArrowTypeError) as e:
        raise ConfigError(f"{KEY}: {where!r} cannot be evaluated on {path} ({str(e).splitlines()[0][:200]}); "
                          f"compare numbers with numeric columns and quoted strings with text columns") from None
    if budget and len(hits) > budget:
        hits = hits[:budget]
        return Selection(hits, hits[-1] + 1 - budget)
    return Selection(hits, n - len(hits))

