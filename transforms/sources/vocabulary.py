"""Captions -> object classes: whole-word matching against a class vocabulary (names, synonyms, plurals).

Sources of captioned images (LAION tables, img2dataset shards, folders with sidecar captions) turn each
caption into the image's objects: one ``ObjectRef`` per matched class, without a mask. Grounded-SAM with
``masks.grounding.prompt_source: categories`` then prompts with exactly those class names, and its masks
get the class's vocabulary index as category id. File format: configs/vocab/lvis_classes.txt's header.
"""
from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass

import configs
from configs.schema import ConfigError, SourceConfig
from transforms.core import fileio

BUILTIN = {"lvis": os.path.join(os.path.dirname(os.path.abspath(configs.__file__)), "vocab", "lvis_classes.txt")}
_WORD = re.compile(r"[^\W_]+")


def words(text: str) -> tuple[str, ...]:
    """Lower-case words of ``text`` (letters and digits; hyphens, apostrophes and punctuation split)."""
    return tuple(_WORD.findall(str(text).lower()))


def plurals(word: str) -> set[str]:
    """English plural forms of a (last) word; over-generates rather than misses ('knifes', 'knives')."""
    if word.endswith(("s", "x", "z", "ch", "sh")):
        return {word + "es"}
    if word.endswith("y") and len(word) > 1 and word[-2] not in "aeiou":
        return {word[:-1] + "ies"}
    if word.endswith("fe"):
        return {word + "s", word[:-2] + "ves"}
    if word.endswith("f"):
        return {word + "s", word[:-1] + "ves"}
    if word.endswith("o"):
        return {word + "s", word + "es"}
    return {word + "s"}


def phrase_forms(phrase: str) -> list[tuple[str, ...]]:
    """The phrase as words, then with its last word in each plural form (sorted: a stable order)."""
    ws = words(phrase)
    return [ws] + [ws[:-1] + (p,) for p in sorted(plurals(ws[-1])) if p != ws[-1]] if ws else []


@dataclass(frozen=True)
class Vocabulary:
    """Class names (index = category id) and every word sequence that names one of them."""
    names: tuple[str, ...]
    lookup: dict[tuple[str, ...], int]
    firsts: dict[str, int]          # first word of a phrase -> words in the longest phrase it starts

    def match(self, caption: str, limit: int) -> list[int]:
        """Class indices named in ``caption``, in order of first mention, at most ``limit``; at each word
        the longest phrase wins ('hot dog' is not a dog)."""
        ws, found, i = words(caption), [], 0
        end, firsts, lookup = len(ws), self.firsts, self.lookup
        while i < end and len(found) < limit:
            step = 1
            for n in range(min(firsts.get(ws[i], 0), end - i), 0, -1):
                cls = lookup.get(tuple(ws[i: i + n]))
                if cls is not None:
                    if cls not in found:
                        found.append(cls)
                    step = n
                    break
            i += step
        return found


def parse_vocabulary(text: str, where: str) -> Vocabulary:
    """'name' or 'name: synonym, synonym' per line; raises ConfigError naming the line at fault."""
    names: list[str] = []
    lookup: dict[tuple[str, ...], int] = {}
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, _, rest = line.partition(":")
        name = " ".join(words(name))
        if not name:
            raise ConfigError(f"source.vocabulary: {where} line {n}: no class name in {line!r}")
        cls = len(names)
        names.append(name)
        for phrase in [name, *rest.split(",")]:
            for form in phrase_forms(phrase):
                if lookup.setdefault(form, cls) != cls:
                    raise ConfigError(f"source.vocabulary: {where} line {n}: {' '.join(form)!r} already names "
                                      f"{names[lookup[form]]!r}")
    if not names:
        raise ConfigError(f"source.vocabulary: {where} holds no class")
    firsts: dict[str, int] = {}
    for phrase in lookup:
        firsts[phrase[0]] = max(firsts.get(phrase[0], 0), len(phrase))
    return Vocabulary(tuple(names), lookup, firsts)


@functools.lru_cache(maxsize=8)
def load_vocabulary(ref: str) -> Vocabulary:
    """``lvis`` (the shipped list) or a file on any Beam FileSystems path."""
    path = BUILTIN.get(ref, ref)
    try:
        text = fileio.read_bytes(path).decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"source.vocabulary: {path} is not UTF-8 text") from None
    except Exception as e:  # noqa: BLE001 - any filesystem's "not there"
        raise ConfigError(f"source.vocabulary: cannot read {path} ({type(e).__name__}); give lvis, none or "
                          f"a class file") from None
    return parse_vocabulary(text, path)


def caption_objects(caption: str, cfg: SourceConfig) -> list[dict]:
    """Plan-entry objects (no mask) for the vocabulary classes ``caption`` names; [] with vocabulary none."""
    if cfg.vocabulary == "none" or not caption:
        return []
    vocab = load_vocabulary(cfg.vocabulary)
    return [{"ann_id": f"c{cls}", "category_id": cls, "class_name": vocab.names[cls], "segmentation": None}
            for cls in vocab.match(caption, cfg.max_caption_classes)]
