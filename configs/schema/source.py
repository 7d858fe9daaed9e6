"""The ``source`` section: where the input images and their labels come from (transforms/sources/).

Also ``PATH_KEYS`` / ``PATH_WORDS``: the source keys that name a file or folder, resolved by the loader
(configs/loader.py) against the YAML file's folder or, for ``--set``, the current directory.
"""
from __future__ import annotations

from dataclasses import dataclass

from configs.schema.base import ConfigError, Section, between
from configs.schema.where import parse_where


@dataclass(frozen=True)
class SourceConfig(Section):
    """Where the input images and their labels come from (transforms/sources/)."""
    kind: str = "coco"              # a SOURCES name: coco (also LVIS json), url_table (alias laion_parquet), ...
    annotations: str = ""           # COCO/LVIS instances json; url_table: the tables; openimages: the CSV
    images: str = ""                # folder the json's file_name entries are relative to
    name: str = "coco"              # key prefix: letters and digits only
    shard_size: int = between(1, 1_000_000, default=100)   # input images per shard (output shard k <- input shard k)
    unit_images: int = between(1, 100_000, default=16)   # images per work unit: model calls batch its rows
    limit: int = between(0, 10**12, default=0)   # first N images (by id) only; 0 = all
    licence: str = ""               # default licence text when the source names none
    masks: str = ""                 # openimages: folder of the per-mask PNGs (the CSV's MaskPath is relative to it)
    classes: str = ""               # openimages: class-descriptions CSV (/m/ label id -> readable name)
    url_column: str = "url"         # url_table: the URL column (names: img2dataset's; case-insensitive)
    caption_column: str = "caption"   # url_table: the caption column
    width_column: str = "width"     # url_table: the width column (optional, like those below)
    height_column: str = "height"   # url_table: the height column
    licence_column: str = "license"   # url_table: the licence column
    vocabulary: str = "lvis"        # captions -> objects (Grounded-SAM prompts): lvis (shipped list) | none | a file
    max_caption_classes: int = between(1, 256, default=8)   # classes kept per caption, in caption order
    allow_local_files: bool = False  # url_table: read file:// rows, absolute paths, paths outside the table's folder
    where: str = ""                 # url_table/webdataset: keep rows where this holds ('aesthetic >= 5 and ...')
    # Several sources in one build (PIPE's mix): each item a source section of its own (kind, inputs, name);
    # SHARED keys are set here for all of them. One plan, shards numbered across the sources in mix order.
    mix: tuple[SourceConfig, ...] = ()   # sources of one build, each with its kind, inputs and name (docs/SOURCES.md)
    merge_iou: float = between(0.0, 1.0, default=0.6)   # mix: two sources' masks of one image at this IoU are one object
    merge_prefer: str = "finer"     # mix: whose object is kept: finer (the source with more classes) | NAME,NAME,...

    def __post_init__(self):
        super().__post_init__()
        k = self._KEY
        if not self.name.isalnum():
            raise ConfigError(f"{k}.name: {self.name!r} must be letters and digits only (it starts every key)")
        if not self.url_column.strip():
            raise ConfigError(f"{k}.url_column: empty; name the column holding the image URLs (e.g. url)")
        if self.where.strip():
            parse_where(self.where)   # syntax checked at load; columns when the tables are read
        if self.mix:
            _check_mix(self)


SHARED = ("shard_size", "unit_images", "mix", "merge_iou", "merge_prefer")   # keys of the section, not of a mix item


def _check_mix(src: SourceConfig) -> None:
    """A mix: two or more items with names of their own; shared keys set on the section only; the
    section's own input keys unset (each item names its inputs); merge_prefer naming the items."""
    k = src._KEY
    if len(src.mix) < 2:
        raise ConfigError(f"{k}.mix: a mix needs two sources or more; for one, put its keys in {k} itself")
    names = [item.name for item in src.mix]
    for i, item in enumerate(src.mix):
        for key in SHARED:
            if getattr(item, key) != getattr(SourceConfig, key, ()):
                raise ConfigError(f"{k}.mix[{i}].{key}: set it on {k} (it holds for every source of the mix)")
        if names.index(item.name) != i:
            raise ConfigError(f"{k}.mix[{i}].name: {item.name!r} is also mix[{names.index(item.name)}]'s; "
                              f"give each source its own name (it starts its keys)")
    for key in ("annotations", "images", "masks", "classes", "where"):
        if getattr(src, key):
            raise ConfigError(f"{k}.{key}: with {k}.mix, give each source its inputs in its mix item")
    if src.merge_prefer != "finer":
        order = [n.strip() for n in src.merge_prefer.split(",")]
        if sorted(order) != sorted(names):
            raise ConfigError(f"{k}.merge_prefer: {src.merge_prefer!r}; give finer, or every mix name once, "
                              f"in the order their objects win: {','.join(names)}")


PATH_KEYS = ("source.annotations", "source.images", "source.masks", "source.classes", "source.vocabulary")
PATH_WORDS = {"source.vocabulary": ("lvis", "none")}   # values of a path key that name no file


def source_items(src: SourceConfig) -> list[tuple[str, SourceConfig]]:
    """The sources ``src`` plans, in order, each with the dotted key its own keys sit under: the ``mix``
    items (``source.mix[i]``), or the section itself (``source``)."""
    return [(f"{src._KEY}.mix[{i}]", item) for i, item in enumerate(src.mix)] or [(src._KEY, src)]


def source_paths(src: SourceConfig) -> list[tuple[str, str]]:
    """(key, path) of each PATH_KEYS key the sources set to a file, folder or glob (left out: unset keys and
    built-in names such as ``source.vocabulary: lvis``); a mix's items as ``source.mix[i].annotations``."""
    found = []
    for prefix, item in source_items(src):
        for key in PATH_KEYS:
            name = key.split(".")[1]
            path = getattr(item, name)
            if path and path not in PATH_WORDS.get(key, ()):
                found.append((f"{prefix}.{name}", path))
    return found
