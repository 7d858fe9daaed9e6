"""Text helpers of the stages that write words: articles, class-name placeholders, one clean line."""
from __future__ import annotations

import re

_SPACE = re.compile(r"\s+")


def with_article(noun: str) -> str:
    return f"{'an' if noun[:1].lower() in 'aeiou' else 'a'} {noun}"


def class_words(class_name: str) -> dict[str, str]:
    """Values of the prompt placeholders {class} and {a_class}."""
    name = class_name.replace("_", " ").strip()
    return {"class": name, "a_class": with_article(name)}


def one_line(text: str) -> str:
    """The first non-empty line of a model's text, whitespace collapsed, quotes and bullets stripped."""
    for line in str(text).splitlines():
        line = _SPACE.sub(" ", line).strip().strip("\"'`*-•").strip()
        if line:
            return line
    return ""
