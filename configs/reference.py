"""The README's config reference, generated from the schema (configs/schema/).

``python -m configs.reference`` prints it; ``--write`` rewrites it in README.md between the two marker
comments; ``--check`` exits 1 when README.md is stale (tests/configs/test_reference.py checks the same).

Every cell is derived from a field, never typed twice:

- the key is the field's dotted place in ``Config``, the default is the field's default;
- what is allowed is the field's rule (``between`` / ``one_of`` / ``placeholders``, configs/schema/base.py),
  ``true``/``false`` for a bool, and ``null`` for an ``X | None`` field; checks that no rule says (odd
  numbers, hub ids, ...) live in the section's ``__post_init__`` and are worded in the meaning;
- the meaning is the field's trailing comment in configs/schema/: that comment is the one owner of the text.
  The comments on the lines of the field's declaration are joined; comment-only lines are not read. A
  re-declared field without a comment (a model section's own ``model`` default) takes its base's comment;
- a section's line is the first sentence of its class docstring.

The keys every model section shares (ModelConfig's) are listed once, after the sections; each model section
lists the keys it declares itself.
"""
from __future__ import annotations

import argparse
import ast
import dataclasses
import functools
import inspect
import io
import os
import sys
import textwrap
import tokenize
from types import UnionType
from typing import Any, Iterator, Union, get_args, get_origin, get_type_hints

from configs.schema import Config, ModelConfig
from configs.schema.base import rule_of

START = "<!-- config-reference:start -->"
END = "<!-- config-reference:end -->"
README = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "README.md")
LONGEST_DEFAULT = 40   # characters of a text default shown; longer ones are cut (the schema holds the rest)


def sections(root: type = Config, prefix: str = "") -> Iterator[tuple[str, type]]:
    """(dotted key, class) of every section under ``root``, depth first in declaration order."""
    hints = get_type_hints(root)
    for f in dataclasses.fields(root):
        if dataclasses.is_dataclass(hints[f.name]):
            key = f"{prefix}.{f.name}" if prefix else f.name
            yield key, hints[f.name]
            yield from sections(hints[f.name], key)


def _declares(cls: type, name: str) -> bool:
    return name in vars(cls).get("__annotations__", {})


def leaves(cls: type, shared: bool) -> list[dataclasses.Field]:
    """The fields of ``cls`` that are keys, not sections. A model section's shared keys (ModelConfig's, not
    re-declared) are listed once for all of them: ``shared=False`` leaves them out."""
    hints = get_type_hints(cls)
    return [f for f in dataclasses.fields(cls) if not dataclasses.is_dataclass(hints[f.name])
            and (shared or not issubclass(cls, ModelConfig) or _declares(cls, f.name))]


@functools.cache
def _class_source(cls: type) -> tuple[ast.ClassDef, dict[int, str]]:
    """The class's syntax tree and its trailing comments by line (comment-only lines left out)."""
    src = textwrap.dedent("".join(inspect.getsourcelines(cls)[0]))
    tree = next(n for n in ast.parse(src).body if isinstance(n, ast.ClassDef))
    comments = {tok.start[0]: tok.string.lstrip("#").strip()
                for tok in tokenize.generate_tokens(io.StringIO(src).readline)
                if tok.type == tokenize.COMMENT and not tok.line.lstrip().startswith("#")}
    return tree, comments


def _own_comment(cls: type, name: str) -> str:
    tree, comments = _class_source(cls)
    for node in tree.body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.target.id == name:
            return " ".join(comments[n] for n in range(node.lineno, node.end_lineno + 1) if n in comments)
    return ""


def meaning(cls: type, name: str) -> str:
    """The trailing comment of field ``name``: from the class declaring it, else from a base declaring it."""
    for klass in cls.__mro__:
        if dataclasses.is_dataclass(klass) and _declares(klass, name):
            text = _own_comment(klass, name)
            if text:
                return text
    return ""


def summary(cls: type) -> str:
    """The first sentence of the class's own docstring (not the signature dataclass makes up)."""
    doc = " ".join((ast.get_docstring(_class_source(cls)[0]) or "").split())
    first, dot, _ = doc.partition(". ")
    return (first + "." if dot else first).replace("``", "`")


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if value is None:
        return "`null`"
    if isinstance(value, str):
        return f"`{value[:LONGEST_DEFAULT]}`..." if len(value) > LONGEST_DEFAULT else f"`{value}`" if value else '`""`'
    if isinstance(value, tuple):
        if value and dataclasses.is_dataclass(value[0]):
            return f"{len(value)} items"
        return f"`[{', '.join(str(v) for v in value)}]`"
    return f"`{value!r}`"


def allowed(cls: type, f: dataclasses.Field) -> str:
    kind = get_type_hints(cls)[f.name]
    rule = rule_of(f)
    text = rule.allowed() if rule else ""
    if kind is bool:
        text = "`true`, `false`"
    if get_origin(kind) in (Union, UnionType) and type(None) in get_args(kind):
        text = f"{text}, or `null`" if text else "a number or `null`" if float in get_args(kind) else "`null`"
    return text


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def table(cls: type, key: str, shared: bool = False) -> list[str]:
    rows = ["| key | default | allowed | meaning |", "|---|---|---|---|"]
    for f in leaves(cls, shared):
        rows.append("| " + " | ".join(_cell(c) for c in (f"`{key}.{f.name}`" if key else f"`{f.name}`",
                                                          _show(f.default), allowed(cls, f), meaning(cls, f.name)))
                    + " |")
    return rows


def reference(root: type = Config) -> str:
    """The whole reference: one table per section, then the keys every model section shares."""
    out: list[str] = []
    models = []
    for key, cls in sections(root):
        if issubclass(cls, ModelConfig):
            models.append(key)
        if not leaves(cls, shared=False):
            continue
        out += [f"**`{key}`**: {summary(cls)}", "", *table(cls, key), ""]
    out += [f"**Every model section** ({', '.join(f'`{m}`' for m in models)}) also takes these keys "
            f"(`{models[0]}.device` ...): {summary(ModelConfig)}", "", *table(ModelConfig, "", shared=True), ""]
    return "\n".join(out)


def replace_block(text: str, block: str) -> str:
    """``text`` with what lies between the START and END markers replaced by ``block``."""
    head, start, rest = text.partition(START)
    _, end, tail = rest.partition(END)
    if not start or not end:
        raise ValueError(f"README has no {START} ... {END} block")
    return f"{head}{START}\n{block}{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m configs.reference", description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help="rewrite the reference in the README")
    mode.add_argument("--check", action="store_true", help="exit 1 when the README's reference is stale")
    parser.add_argument("--readme", default=README, help="the file holding the markers (default: README.md)")
    args = parser.parse_args(argv)
    if not (args.write or args.check):
        sys.stdout.write(reference())
        return 0
    with open(args.readme, encoding="utf-8") as f:
        text = f.read()
    fresh = replace_block(text, reference())
    if args.check:
        if fresh != text:
            print(f"{args.readme}: the config reference is stale; run python -m configs.reference --write",
                  file=sys.stderr)
        return int(fresh != text)
    if fresh != text:
        with open(args.readme, "w", encoding="utf-8") as f:
            f.write(fresh)
    return 0


if __name__ == "__main__":
    sys.exit(main())
