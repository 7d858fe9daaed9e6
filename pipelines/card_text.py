"""Render a dataset card (YAML header + Markdown) from the facts gathered by pipelines/card.py. Pure text."""
from __future__ import annotations

import re

import yaml

# Which config section drives which stage (configs/schema.py); the card shows each stage's settings.
STAGE_SECTIONS = {"read": "source", "load": "image", "describe": "describe", "propose": "masks",
                  "filter": "filters", "remove": "removal", "blend": "removal", "instruct": "instructions",
                  "encode": "output"}
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
        "task_categories": ["image-to-image"],
        "tags": ["image-editing", "object-removal", "object-addition", "inpainting", "inpaint-pairs"],
        "size_categories": [size_category(pairs)],
        "pretty_name": f"inpaint-pairs: {', '.join(sorted(facts['counts']['datasets'])) or 'empty'}",
        "dataset_info": infos[0] if len(infos) == 1 else infos,
        "configs": configs,
    }


def table(head: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(str(c).replace("|", "\\|") for c in r) + " |" for r in rows]
    return "\n".join(lines)


def loading(layout: dict) -> str:
    if layout["kind"] == "pipe":
        masks = ('\nmasks = load_dataset("parquet", data_dir="DIR/masks")["train"]  '
                 "# join on (target_img_dataset, img_id, ann_id)") if "masks" in layout["configs"] else ""
        return ("Parquet with the columns and types of PIPE's release (paint-by-inpaint/PIPE); images are "
                "`datasets` Image features.\n\n```python\nfrom datasets import load_dataset\n"
                f'ds = load_dataset("parquet", data_dir="DIR")  # or load_dataset("DIR"){masks}\n```\n\n'
                "`Instruction_Class` is the class instruction (\"add a cat\"), `Instruction_VLM-LLM` the "
                "VLM/LLM instruction and `Instruction_Ref_Dataset` a referring-expression one (\"\" when the "
                "recipe made none). `object_location` is one of nine grid cells: top/middle/bottom x "
                "left/center/right (\"top left\", \"center\", ...). The test split, when present, holds whole "
                "source images.")
    return ("WebDataset shards: `shards/NNNNNN.tar` with `KEY.source.*` (object removed), `KEY.target.*` "
            "(original), `KEY.mask.png` (0/255), `KEY.txt` (one instruction) and `KEY.json` (every "
            "instruction, class, box, location, scores, source ids, licence); `shards/NNNNNN.parquet` holds "
            "the same metadata without images.\n\n```python\nfrom pipelines.loader import pair_dataset, "
            "shard_urls   # pip install inpaint-pairs\nfor source, target, mask, instruction in "
            "pair_dataset(shard_urls(\"OUT\")): ...\n# or: datasets.load_dataset(\"webdataset\", data_files="
            "{\"train\": \"OUT/shards/*.tar\"})\n```")


def recipe(facts: dict) -> str:
    cfg = facts["config"]
    rows = [[stage, ", ".join(f"{k}={v}" for k, v in (cfg.get(sec) or {}).items()
                              if not isinstance(v, (dict, list))) if sec else "-"]
            for stage in [r["stage"] for r in facts["report"]["stages"]]
            for sec in [STAGE_SECTIONS.get(stage)]]
    kinds = ", ".join(f"{sec}.kind `{v['kind']}`" for sec, v in cfg.items() if isinstance(v, dict) and "kind" in v)
    models = ("Models as the pairs' metadata records them (what ran):\n\n" + table(
        ["recorded at", "model", "revision"], [[m["where"], m["id"], m["revision"] or "-"] for m in facts["models"]])
        if facts["models"] else "No model is recorded in the pairs' metadata.") + f"\n\nStage kinds: {kinds}."
    thresholds = table(["filter", "value"], [[k, v] for k, v in (cfg.get("filters") or {}).items()])
    return (f"### Stages\n\n{table(['stage', 'settings'], rows)}\n\n### Models\n\n{models}\n\n"
            f"### Thresholds\n\n{thresholds}\n\n### The run's configuration (config.yaml)\n\n"
            f"```yaml\n{facts['config_text'].rstrip()}\n```")


def funnel(report: dict) -> str:
    rows = [[r["stage"], r["candidates_in"], r["candidates_kept"],
             ", ".join(f"{k} {v}" for k, v in r["images_dropped"].items()) or "-",
             ", ".join(f"{k} {v}" for k, v in r["candidates_dropped"].items()) or "-"] for r in report["stages"]]
    return table(["stage", "candidates in", "kept", "images dropped", "candidates dropped"], rows)


def sources(facts: dict) -> str:
    c = facts["counts"]
    datasets = table(["source dataset", "pairs"], [[k, v] for k, v in sorted(c["datasets"].items())])
    licences = table(["licence", "url", "hub id", "pairs"],
                     [[k or "(none given)", c["licence_urls"].get(k, "") or "-",
                       hf_licence(k, c["licence_urls"].get(k, "")), v] for k, v in sorted(c["licences"].items())])
    return f"{datasets}\n\n{licences}\n\nEach pair keeps its source image's licence (`licence` in its metadata)."


def counts(facts: dict) -> str:
    r, c = facts["report"], facts["counts"]
    totals = table(["count", "value"], [
        ["images in", r["images_in"]], ["images rejected", r["images_rejected"]],
        ["candidates", r["candidates"]], ["pairs", r["pairs"]], ["images with pairs", c["images_with_pairs"]],
        ["classes", len(c["classes"])], ["shards finished", f"{r['shards_done']}/{r['shards_planned']}"]])
    classes = table(["class", "pairs"], [[k, v] for k, v in c["classes"].most_common(TOP_CLASSES)])
    places = table(["location", "pairs"], [[k, v] for k, v in sorted(c["locations"].items())])
    kinds = table(["instruction kind", "pairs with it"], [[k, v] for k, v in sorted(c["kinds"].items())])
    return (f"{totals}\n\n### Classes (top {TOP_CLASSES})\n\n{classes}\n\n### Object locations\n\n{places}\n\n"
            f"### Instruction kinds\n\n{kinds}")


def render_card(facts: dict, layout: dict) -> str:
    r = facts["report"]
    head = yaml.safe_dump(header(facts, layout), sort_keys=False, allow_unicode=True)
    return f"""---
{head}---

# Object addition/removal pairs made with inpaint-pairs

{r['pairs']} image pairs for instruction-based object addition and removal (the recipe of PIPE,
"Paint by Inpaint", arXiv 2404.18212): for each object of a source photo, the photo with the object removed
(`source`), the original (`target`), the object's mask and instructions ("add a cat" turns source into target).
Made from {r['images_in']} images of {', '.join(sorted(facts['counts']['datasets'])) or '-'}. Every number on
this card was written by the run itself (config.yaml, the shards' stats and metadata).

## Loading

{loading(layout)}

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
