"""Render a dataset card (YAML header + Markdown) from the facts gathered by pipelines/report/card.py. Pure text.

Everything taken from the inputs (class and dataset names, licences, their URLs, model ids) goes through
``md``: HTML-escaped, on one line, Markdown punctuation backslash-escaped, so a hostile name is shown as text,
never a heading, a link, an image or a tag. Only http(s) URLs are left for the viewer to link.
"""
from __future__ import annotations

import html
import re

import yaml

from pipelines.chain import section_of
from transforms.quality import QUALITY

TOP_CLASSES = 25
_CC = re.compile(r"creativecommons\.org/licenses/([a-z-]+)/(\d\.\d)")


def hf_licence(name: str, url: str) -> str:
    """A Hub licence id from a source's licence url or name ('other' when not recognised)."""
    text = f"{name} {url}".lower()
    if m := _CC.search(text):
        return f"cc-{m.group(1)}-{m.group(2)}"
    if "publicdomain/zero" in text or "cc0" in text:
        return "cc0-1.0"
    return "other"


def size_category(n: int) -> str:
    bounds = [(1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
              (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M")]
    return next((label for bound, label in bounds if n < bound), "n>100M")


def _type(value):
    """The Hub YAML type of a sample value: a dtype name, a struct list, or {"list": ...}."""
    if isinstance(value, dict):
        return [{"name": k, **_typed(v)} for k, v in sorted(value.items())]
    if isinstance(value, list):
        return {"list": _type(value[0]) if value else "string"}
    return ("bool" if isinstance(value, bool) else "int64" if isinstance(value, int)
            else "float64" if isinstance(value, float) else "string")


def _typed(value) -> dict:
    t = _type(value)
    return {"dtype": t} if isinstance(t, str) else {"struct": t} if isinstance(t, list) else t


def feature(name: str, spec) -> dict:
    """One Hub YAML feature; ``spec`` is a dtype name ("image", "string") or a sample dict whose types
    (nested structs, lists, scalars) the feature declares, e.g. a pair's json."""
    return {"name": name, "dtype": spec} if isinstance(spec, str) else {"name": name, **_typed(spec)}


def header(facts: dict, layout: dict) -> dict:
    pairs = facts["report"]["pairs"]
    infos = []
    for name, features in layout["features"].items():
        info = {"features": [feature(c, t) for c, t in features],
                "splits": [{"name": s, "num_bytes": b, "num_examples": n}
                           for s, (n, b) in layout["splits"][name].items()]}
        infos.append({"config_name": name, **info} if len(layout["features"]) > 1 else info)
    configs = [{"config_name": name, "data_files": [{"split": s, "path": p} for s, p in files.items()]}
               for name, files in layout["configs"].items()]
    return {
        "license": facts["licences"][0] if len(facts["licences"]) == 1 else facts["licences"],
        "task_categories": list(facts["format"].card.task_categories),
        "tags": list(facts["format"].card.tags),
        "size_categories": [size_category(pairs)],
        "pretty_name": f"inpaint-pairs: {', '.join(sorted(facts['counts']['datasets'])) or 'empty'}",
        "dataset_info": infos[0] if len(infos) == 1 else infos,
        "configs": configs,
    }


_MD_PUNCT = re.compile(r"([\\`*_\[\]()#!|~{}])")


def md(value) -> str:
    """``value`` as inert Markdown text on one line: HTML-escaped, line breaks to spaces, Markdown
    punctuation backslash-escaped (numbers and plain words come out as they are)."""
    text = html.escape(" ".join(str(value).splitlines()), quote=False)
    return _MD_PUNCT.sub(r"\\\1", text)


def url_cell(url: str) -> str:
    """A URL for a table: an http(s) URL as inert text the viewer may autolink; anything else in code."""
    if not url:
        return "-"
    if re.fullmatch(r"https?://[^\s<>\"'`|\\]+", url, re.I):
        return md(url)
    return "`" + " ".join(url.splitlines()).replace("`", "'").replace("|", "\\|") + "`"


def table(head: list[str], rows: list[list]) -> str:
    """A Markdown table; every cell goes through ``md`` unless it is a ``Raw`` (already safe) string."""
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(c if isinstance(c, Raw) else md(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


class Raw(str):
    """A cell already made safe (``url_cell``)."""


def _scalars(section: dict, prefix: str = "") -> list[str]:
    return [f"{prefix}{k}={v}" for k, v in section.items() if not isinstance(v, (dict, list))]


BLEND_READS = ("dilate", "feather")   # blend's settings in the removal section (a pure stage declares none)


def stage_settings(stage: str, cfg: dict) -> str:
    """The settings a stage ran with: a quality stage its thresholds and its scorer's model; a section whose
    ``kind`` has its own sub-section (removal.kind diffusion -> removal.diffusion) the kind and that
    sub-section; otherwise the section's own values."""
    sec = section_of(stage)
    if not sec:
        return "-"
    section = cfg.get(sec) or {}
    if stage == "blend":
        return ", ".join(f"{k}={section[k]}" for k in BLEND_READS if k in section)
    if stage in QUALITY:   # what the check declares: its thresholds, the settings it reads, its model
        step = QUALITY[stage]
        keys = [t.name for t in step.thresholds] + list(step.reads)
        found = [f"{k}={section[k]}" for k in keys if k in section]
        scorer, _, leaf = step.model_key.split(".", 1)[1].rpartition(".")
        model = (section.get(scorer) or {}).get(leaf)
        return ", ".join(found + ([f"{scorer}.{leaf}={model}"] if model else [])) or "-"
    kind = section.get("kind")
    if isinstance(section.get(kind), dict):
        return ", ".join([f"kind={kind}"] + _scalars(section[kind], f"{kind}."))
    return ", ".join(_scalars(section)) or "-"


def recipe(facts: dict) -> str:
    cfg = facts["config"]
    rows = [[stage, stage_settings(stage, cfg)] for stage in [r["stage"] for r in facts["report"]["stages"]]]
    ran = {section_of(r["stage"]) for r in facts["report"]["stages"]}   # a format runs only some stages
    kinds = ", ".join(f"{sec}.kind `{v['kind']}`" for sec, v in cfg.items()
                      if isinstance(v, dict) and "kind" in v and sec in ran)
    models = ("Models as the pairs' metadata records them (what ran), per stage:\n\n" + table(
        ["stage", "model", "revision"], [[m["where"], m["id"], m["revision"] or "-"] for m in facts["models"]])
        if facts["models"] else "No model is recorded in the pairs' metadata.") + f"\n\nStage kinds: {kinds}."
    thresholds = table(["filter", "value"], [[k, v] for k, v in (cfg.get("filters") or {}).items()])
    fence = "`" * max(3, 1 + max((len(run) for run in re.findall(r"`+", facts["config_text"])), default=0))
    return (f"### Stages\n\n{table(['stage', 'settings'], rows)}\n\n### Models\n\n{models}\n\n"
            f"### Thresholds\n\n{thresholds}\n\n### The run's configuration (config.yaml)\n\n"
            f"{fence}yaml\n{facts['config_text'].rstrip()}\n{fence}")


def funnel(report: dict) -> str:
    rows = [[r["stage"], r["candidates_in"], r["candidates_kept"],
             ", ".join(f"{k} {v}" for k, v in r["images_dropped"].items()) or "-",
             ", ".join(f"{k} {v}" for k, v in r["candidates_dropped"].items()) or "-"] for r in report["stages"]]
    return table(["stage", "candidates in", "kept", "images dropped", "candidates dropped"], rows)


def sources(facts: dict) -> str:
    c = facts["counts"]
    unit = facts["format"].card.unit
    datasets = table(["source dataset", unit], [[k, v] for k, v in sorted(c["datasets"].items())])
    licences = table(["licence", "url", "hub id", unit],
                     [[k or "(none given)", Raw(url_cell(c["licence_urls"].get(k, ""))),
                       hf_licence(k, c["licence_urls"].get(k, "")), v] for k, v in sorted(c["licences"].items())])
    return f"{datasets}\n\n{licences}\n\nEach {unit[:-1]} keeps its source image's licence (`licence` in its metadata)."


def counts(facts: dict) -> str:
    r, c, unit = facts["report"], facts["counts"], facts["format"].card.unit
    totals = table(["count", "value"], [
        ["images in", r["images_in"]], ["images rejected", r["images_rejected"]],
        ["candidates", r["candidates"]], [unit, r["pairs"]], [f"images with {unit}", c["images_with_pairs"]],
        ["classes", len(c["classes"])], ["shards finished", f"{r['shards_done']}/{r['shards_planned']}"]]
        + ([[f"rows left out by source.where `{r['where']}`", r["where_left_out"]]] if r.get("where") else []))
    classes = table(["class", unit], [[k, v] for k, v in c["classes"].most_common(TOP_CLASSES)])
    text = f"{totals}\n\n### Classes (top {TOP_CLASSES})\n\n{classes}"
    fmt = facts["format"]
    if fmt.location_column:
        places = table(["location", "pairs"], [[k, v] for k, v in sorted(c["locations"].items())])
        text += f"\n\n### Object locations\n\n{places}"
    if fmt.kind_columns:
        kinds = table(["instruction kind", "pairs with it"], [[k, v] for k, v in sorted(c["kinds"].items())])
        text += f"\n\n### Instruction kinds\n\n{kinds}"
    return text


def render_card(facts: dict, layout: dict) -> str:
    r, card = facts["report"], facts["format"].card
    head = yaml.safe_dump(header(facts, layout), sort_keys=False, allow_unicode=True)
    datasets = ", ".join(md(d) for d in sorted(facts["counts"]["datasets"])) or "-"
    summary = card.summary_for(facts["config"]).format(samples=r["pairs"], images=r["images_in"], datasets=datasets)
    return f"""---
{head}---

# {card.title}

{summary} Every number on
this card was written by the run itself (config.yaml, the shards' stats and metadata).

## Loading

{layout["loading"]}

## How it was made

{recipe(facts)}

## Funnel

Candidates (one per object) entering each stage, kept, and dropped per reason (as PIPE's Table S8).

{funnel(r)}

## Sources and licences

{sources(facts)}

## Counts

{counts(facts)}
"""
