"""The README's config reference is generated from the schema (configs/reference.py) and kept fresh."""
from __future__ import annotations

import dataclasses
import os

import pytest

from configs import reference
from configs.schema import Config, ConfigError, FilterConfig, ModelConfig, load_config
from configs.schema.base import Between, OneOf, Placeholders, rule_of
from helpers import ROOT


def _keys_with_fields():
    for key, cls in reference.sections(Config):
        for f in reference.leaves(cls, shared=not issubclass(cls, ModelConfig)):
            yield f"{key}.{f.name}", cls, f


def test_the_readme_reference_is_the_generated_one():
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        text = f.read()
    assert reference.replace_block(text, reference.reference()) == text, \
        "README.md's config reference is stale: run .venv/bin/python -m configs.reference --write"


def test_check_mode_says_stale_and_write_mode_refreshes(tmp_path, capsys):
    readme = tmp_path / "README.md"
    readme.write_text(f"# t\n\n{reference.START}\nold table\n{reference.END}\n\nafter\n")
    assert reference.main(["--check", "--readme", str(readme)]) == 1
    assert "--write" in capsys.readouterr().err
    assert reference.main(["--write", "--readme", str(readme)]) == 0
    text = readme.read_text()
    assert text.startswith("# t\n\n") and text.endswith(f"{reference.END}\n\nafter\n") and "old table" not in text
    assert reference.main(["--check", "--readme", str(readme)]) == 0


def test_a_readme_without_markers_is_an_error():
    with pytest.raises(ValueError, match="config-reference"):
        reference.replace_block("no markers here", "table")


def test_every_key_is_listed_once_and_says_what_it_means():
    text = reference.reference()
    rows = [line for line in text.splitlines() if line.startswith("| `")]
    listed = [row.split("`")[1] for row in rows]
    assert len(listed) == len(set(listed))
    for key, cls, f in _keys_with_fields():
        assert key in listed, key
        assert reference.meaning(cls, f.name), f"{key}: give the field a trailing comment saying what it means"
    for f in reference.leaves(ModelConfig, shared=True):
        assert f.name in listed and reference.meaning(ModelConfig, f.name)


def test_each_row_shows_the_fields_default_and_rule():
    rows = {line.split("`")[1]: line for line in reference.reference().splitlines() if line.startswith("| `")}
    assert rows["removal.diffusion.steps"].startswith("| `removal.diffusion.steps` | `10` | 1 to 1000 |")
    assert "| `none`, `clip` |" in rows["quality.kind"]
    assert "placeholders `{class}`, `{a_class}`" in rows["removal.diffusion.negative_prompt"]
    assert "| min_vertices to 64 |" in rows["masks.brush.max_vertices"]
    assert "| `0.0` | a number or `null` |" in rows["filters.min_sam_iou"]
    assert "\\|" in rows["source.vocabulary"]   # a | in a comment does not split the row


RULES = [(key, cls, f, rule_of(f)) for key, cls, f in _keys_with_fields() if rule_of(f)]


@pytest.mark.parametrize("key, cls, f, rule", RULES, ids=[r[0] for r in RULES])
def test_every_rule_refuses_a_value_with_the_full_key(key, cls, f, rule):
    """A value outside each rule stops the load with today's words, naming the full dotted key."""
    if isinstance(rule, Between):
        hi = getattr(cls(), rule.hi) if isinstance(rule.hi, str) else rule.hi
        bad, words = hi * 2 + 1, f"{key}: {hi * 2 + 1!r} is out of range; allowed"
    elif isinstance(rule, OneOf):
        tuple_field = isinstance(f.default, tuple)
        bad = ["psychic"] if tuple_field else "psychic"
        words = f"{key}[]: 'psychic' is not allowed" if tuple_field else f"{key}: 'psychic' is not allowed"
    else:
        assert isinstance(rule, Placeholders)
        bad, words = "a {psychic}", f"{key}: unknown placeholder {{psychic}}"
    with pytest.raises(ConfigError) as e:
        load_config(None, [f"{key}={bad!r}" if isinstance(bad, str) else f"{key}={bad}"])
    assert str(e.value).startswith(words), str(e.value)


def test_a_section_built_directly_names_its_place_in_the_config():
    with pytest.raises(ConfigError, match=r"^filters\.max_area_ratio: 2 is out of range; allowed 0\.0 to 1\.0$"):
        FilterConfig(max_area_ratio=2)
    assert dataclasses.replace(FilterConfig(), max_objects=0).max_objects == 0
