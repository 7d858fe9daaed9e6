"""The ``source`` section: where the input images and their labels come from (transforms/sources/).

Also ``PATH_KEYS`` / ``PATH_WORDS``: the source keys that name a file or folder, resolved by the loader
(configs/loader.py) against the YAML file's folder or, for ``--set``, the current directory.
"""
from __future__ import annotations

from dataclasses import dataclass

from configs.schema.base import ConfigError, _range
from configs.schema.where import parse_where


@dataclass(frozen=True)
class SourceConfig:
    kind: str = "coco"              # see transforms/sources/ SOURCES
    annotations: str = ""           # COCO/LVIS instances json
    images: str = ""                # folder the json's file_name entries are relative to
    name: str = "coco"              # key prefix: letters and digits only
    shard_size: int = 100           # input images per shard (output shard k <- input shard k)
    limit: int = 0                  # first N images (by id) only; 0 = all
    licence: str = ""               # default licence text when the source names none
    masks: str = ""                 # openimages: folder of the per-mask PNGs (the CSV's MaskPath is relative to it)
    classes: str = ""               # openimages: class-descriptions CSV (/m/ label id -> readable name)
    url_column: str = "url"         # laion_parquet: column names (img2dataset's by default; case-insensitive)
    caption_column: str = "caption"
    width_column: str = "width"
    height_column: str = "height"
    licence_column: str = "license"
    vocabulary: str = "lvis"        # captions -> objects (Grounded-SAM prompts): lvis (shipped list) | none | a file
    max_caption_classes: int = 8    # classes kept per caption, in caption order
    allow_local_files: bool = False  # laion_parquet: read file:// rows, absolute paths and paths outside the table's folder
    where: str = ""                 # laion_parquet/webdataset: keep rows where this holds ('aesthetic >= 5 and ...')

    def __post_init__(self):
        if not self.name.isalnum():
            raise ConfigError(f"source.name: {self.name!r} must be letters and digits only (it starts every key)")
        _range("source.shard_size", self.shard_size, 1, 1_000_000)
        _range("source.limit", self.limit, 0, 10**12)
        if not self.url_column.strip():
            raise ConfigError("source.url_column: empty; name the column holding the image URLs (e.g. url)")
        _range("source.max_caption_classes", self.max_caption_classes, 1, 256)
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
