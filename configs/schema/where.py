"""``source.where``: the small row-filter language of URL tables and img2dataset shards, parsed safely.

An expression is Python's syntax restricted to: comparisons (``== != < <= > >=``, chained ``1 < x <= 5``),
``and`` / ``or`` / ``not``, parentheses, numbers (a leading ``-`` allowed), quoted strings, ``True`` /
``False`` and column names, e.g. ``aesthetic >= 5 and punsafe < 0.1 and pwatermark < 0.5``. It is parsed
with ``ast`` and every node checked against that list; nothing is ever evaluated as Python. The parsed tree
is turned into a pyarrow compute expression by transforms/sources/where.py.
"""
from __future__ import annotations

import ast

from configs.schema.base import ConfigError

KEY = "source.where"
_COMPARE = (ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE)
_ALLOWED = (ast.Expression, ast.BoolOp, ast.And, ast.Or, ast.UnaryOp, ast.Not, ast.USub, ast.Compare,
            ast.Name, ast.Load, ast.Constant, *_COMPARE)
HELP = ("use comparisons (== != < <= > >=), and/or/not, parentheses, numbers, quoted strings and column names, "
        "e.g. aesthetic >= 5 and punsafe < 0.1")


def _check(node: ast.AST, text: str) -> None:
    """Raise ConfigError naming ``source.where`` for a node outside the language."""
    if not isinstance(node, _ALLOWED):
        what = ast.get_source_segment(text, node) or type(node).__name__
        raise ConfigError(f"{KEY}: {what!r} is not allowed in {text!r}; {HELP}")
    if isinstance(node, ast.Constant) and not isinstance(node.value, (int, float, str)):
        raise ConfigError(f"{KEY}: {node.value!r} is not allowed in {text!r}; {HELP}")
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) and not (
            isinstance(node.operand, ast.Constant) and type(node.operand.value) in (int, float)):
        raise ConfigError(f"{KEY}: '-' only before a number in {text!r}; {HELP}")


def parse_where(text: str) -> ast.Expression:
    """The checked syntax tree of a ``source.where`` expression; ConfigError naming the key otherwise."""
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as e:
        raise ConfigError(f"{KEY}: syntax error in {text!r} ({e.msg}); {HELP}") from None
    for node in ast.walk(tree):
        _check(node, text)
    if isinstance(tree.body, (ast.Name, ast.Constant)):
        raise ConfigError(f"{KEY}: {text!r} is not a condition; {HELP}")
    return tree


def where_columns(tree: ast.Expression) -> list[str]:
    """The column names an expression reads, sorted."""
    return sorted({n.id for n in ast.walk(tree) if isinstance(n, ast.Name)})
