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

    def __post_init__(self):
        super().__post_init__()
        k = self._KEY
        if not self.name.isalnum():
            raise ConfigError(f"{k}.name: {self.name!r} must be letters and digits only (it starts every key)")
        if not self.url_column.strip():
            raise ConfigError(f"{k}.url_column: empty; name the column holding the image URLs (e.g. url)")
        if self.where.strip():
            parse_where(self.where)   # syntax checked at load; columns when the tables are read


PATH_KEYS = ("source.annotations", "source.images", "source.masks", "source.classes", "source.vocabulary")
PATH_WORDS = {"source.vocabulary": ("lvis", "none")}   # values of a path key that name no file


def source_paths(src: SourceConfig) -> list[tuple[str, str]]:
    """(key, path) of each PATH_KEYS key the source sets to a file, folder or glob (left out: unset keys and
    built-in names such as ``source.vocabulary: lvis``)."""
    found = []
    for key in PATH_KEYS:
        path = getattr(src, key.split(".")[1])
        if path and path not in PATH_WORDS.get(key, ()):
            found.append((key, path))
    return found
