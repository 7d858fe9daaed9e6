"""What an output format is (``output.format``): everything about its samples, in one object.

A format owns its part of the stage chain (which stages of the one stage order it runs, a function it puts
in place of a stage's, and its encoder: the last stage, returning ``Sample``s), the sidecar schema
(shards/NNNNNN.parquet), the tar members with the feature type each has for Hugging Face ``datasets``, the
dataset card's wording and counted columns, and the gallery view of a sample. The shard writer, the report, the card and the exports ask the format; none of them
knows a member name.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import pyarrow as pa



@dataclass(frozen=True)
class Member:
    """One tar member of every sample: ``name`` after ``KEY.`` (``{ext}`` is output.image_format) and the
    ``datasets`` feature it is read as ('image', 'string', 'binary', or 'json': the sample's own json)."""
    name: str
    feature: str

    def resolved(self, ext: str) -> str:
        return self.name.format(ext=ext)


@dataclass(frozen=True)
class CardText:
    """The dataset card's words for a format: title, a summary with {samples}, {images} and {datasets} (or a
    function of the run's config giving it, when a format's recipes differ), the loading section, tags,
    and the plural noun of one sample."""
    title: str
    summary: str | Callable[[dict], str]
    loading: str
    tags: tuple[str, ...]
    unit: str = "pairs"                   # what the card counts: "pairs", "samples"
    task_categories: tuple[str, ...] = ("image-to-image",)

    def summary_for(self, cfg: dict) -> str:
        return self.summary(cfg) if callable(self.summary) else self.summary


# Sidecar columns every format writes: the report's score histograms and gallery read key, image_key and
# metadata_json; the card counts images, datasets and licences from image_key, dataset and licence.
SHARED_COLUMNS = ("key", "image_key", "dataset", "licence", "metadata_json")


@dataclass(frozen=True)
class OutputFormat:
    name: str
    encode: Callable[[Any, Any], Any]     # the last stage: (record, the whole Config) -> Sample(s) or Reject
    schema: pa.Schema                     # shards/NNNNNN.parquet: one row per sample
    members: tuple[Member, ...]
    card: CardText
    view: Callable[..., dict]             # raw sample -> gallery card {key, instruction, class, location, scores,
    #                                       instructions, images: {source, target, mask}} (Pillow thumbnails)
    class_column: str                     # sidecar column(s) of class names the card counts (str or list)
    location_column: str = ""             # sidecar column of the 3x3 location, '' when the format has none
    kind_columns: dict[str, str] = field(default_factory=dict)   # instruction kind -> sidecar column
    runs: tuple[str, ...] | None = None   # the stages of the stage order it keeps before encode; None = all
    #                                       (model stages it drops are neither loaded nor required)
    replaces: dict[str, Callable] = field(default_factory=dict)   # stage -> the function run there instead

    def __post_init__(self):
        missing = [c for c in self.card_columns() if c not in self.schema.names]
        if missing:
            raise ValueError(f"output format {self.name!r}: its sidecar schema has no column {', '.join(missing)}; "
                             f"every format writes {', '.join(SHARED_COLUMNS)} (the report and the card read "
                             f"them) and the columns it names (class_column, location_column, kind_columns)")

    def card_columns(self) -> list[str]:
        """The sidecar columns the report and the card read: the shared ones, then those this format names."""
        return [*SHARED_COLUMNS, self.class_column, *filter(None, [self.location_column]),
                *self.kind_columns.values()]

    def member_names(self, ext: str) -> list[str]:
        return [m.resolved(ext) for m in self.members]

    def features(self, ext: str, sample_json: dict) -> list[tuple[str, object]]:
        """(member name, feature) for the card: a dtype name, or the json member's content (its types)."""
        return [("__key__", "string")] + [(m.resolved(ext), sample_json if m.feature == "json" else m.feature)
                                          for m in self.members]
