"""Where a configured model is: a local path, the hub cache, or nowhere yet — and how to get it.

Used before any work (``inpaint-pairs check`` and the start of ``build``) so a missing model stops the run
with a message naming the config key, the model and the fix, instead of failing inside a worker.
"""
from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass

from configs.schema import is_local_model

MARKERS = {"transformers": "config.json", "diffusers": "model_index.json"}


@dataclass(frozen=True)
class ModelRef:
    """A model a handler needs. ``layout``: 'file' (one checkpoint), 'transformers' or 'diffusers' (folders)."""
    key: str                        # config key, e.g. removal.diffusion.model
    ref: str                        # hub id or local path, as configured
    layout: str
    download: str = ""              # where a 'file' checkpoint is published


@dataclass(frozen=True)
class Location:
    """``status``: local | cached (hub cache) | not_cached (hub id, will download) | missing."""
    status: str
    path: str
    hint: str = ""

    @property
    def found(self) -> bool:
        return self.status in ("local", "cached")


def how_to_get(m: ModelRef) -> str:
    if m.layout == "file":
        where = f"download {m.download}" if m.download else "download the checkpoint"
        return f"{where} and give its path: --set {m.key}=/path/to/{os.path.basename(m.download) or 'model.pth'}"
    if is_local_model(m.ref):
        return (f"save the model there with save_pretrained(), or give a hub id: --set {m.key}=owner/name")
    return (f"on a machine with hub access run `hf download {m.ref}` (fills the hub cache; copy "
            f"~/.cache/huggingface/hub along), or save it to a folder and give its path: "
            f"--set {m.key}=/path/to/folder")


def _local(m: ModelRef) -> Location:
    path = m.ref
    if m.layout == "file":
        ok = os.path.isfile(path)
    else:
        ok = os.path.isfile(os.path.join(path, MARKERS[m.layout]))
    if ok:
        return Location("local", path)
    if m.layout == "file":
        what = "file not found"
    elif not os.path.isdir(path):
        what = "folder not found"
    else:
        what = f"no {MARKERS.get(m.layout, '')} in the folder"
    return Location("missing", path, f"{what}; {how_to_get(m)}")


def _hub(m: ModelRef) -> Location:
    if m.layout == "file":
        return Location("missing", m.ref, f"a {m.key} must be a local file; {how_to_get(m)}")
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return Location("not_cached", m.ref, "huggingface_hub is not installed: pip install 'inpaint-pairs[models]'")
    cached = try_to_load_from_cache(m.ref, MARKERS[m.layout])
    if isinstance(cached, str):
        return Location("cached", os.path.dirname(cached))
    return Location("not_cached", m.ref, how_to_get(m))


def locate(m: ModelRef) -> Location:
    """Find ``m`` without touching the network."""
    if not m.ref:
        return Location("missing", "", f"{m.key} is empty; {how_to_get(m)}")
    return _local(m) if is_local_model(m.ref) else _hub(m)


def hub_offline() -> bool:
    """True when the hub may not be used (HF_HUB_OFFLINE): an uncached hub id is then missing."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


@functools.cache
def named(ref: str, layout: str = "transformers") -> str:
    """How a pair's json names a model: a local path as configured; a hub id with the snapshot (commit) the
    hub cache holds for it, ``owner/name@<commit>``, or the id alone when it is not cached here."""
    if not ref or is_local_model(ref) or layout == "file":
        return ref
    where = _hub(ModelRef("", ref, layout))
    return f"{ref}@{os.path.basename(where.path)}" if where.status == "cached" else ref


def split_named(text: str) -> tuple[str, str]:
    """``named``'s text back to (the model as configured, the hub revision or '')."""
    return (text, "") if is_local_model(text) else tuple(text.partition("@")[::2])


def record_models(meta: dict, stage: str, *refs: str, layout: str = "transformers") -> None:
    """Record in a candidate's ``meta['models']`` the models ``stage`` ran on it (pair json, the card)."""
    meta.setdefault("models", {})[stage] = [named(r, layout) for r in refs]


def found_as(config: dict) -> str:
    """What a model's config says it is: 'llava (LlavaForConditionalGeneration)', or a diffusers pipeline
    class name."""
    if "_class_name" in config:
        return str(config["_class_name"])
    arch = (config.get("architectures") or [""])[0]
    return f"{config.get('model_type', '?')}" + (f" ({arch})" if arch else "")


def read_marker(m: ModelRef, where: Location) -> dict | None:
    """The config a located folder model carries (config.json / model_index.json), or None."""
    if m.layout not in MARKERS or not where.found:
        return None
    try:
        with open(os.path.join(where.path, MARKERS[m.layout])) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def has_chat_template(folder: str) -> bool:
    """True when the tokenizer saved in ``folder`` carries a chat template (in its config or a template file)."""
    if any(os.path.isfile(os.path.join(folder, n)) for n in ("chat_template.jinja", "chat_template.json")):
        return True
    try:
        with open(os.path.join(folder, "tokenizer_config.json")) as f:
            return bool(json.load(f).get("chat_template"))
    except (OSError, ValueError):
        return False
