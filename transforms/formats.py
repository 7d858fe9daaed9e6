"""Output formats (``output.format``): which stages run after the masks are proposed, and the sidecar schema.

``pipe`` (default): one pair per object, the whole chain (filter, remove, blend, describe, instruct, encode).
``brushdata``: one sample per image with all its kept masks (transforms/encode_brushdata.py); no removal,
no instructions, the caption comes from the source. A format rewrites the PIPE chain built by
pipelines/build.py, so model stages it drops are neither loaded nor required.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import pyarrow as pa

from transforms.encode_brushdata import BRUSHDATA_SCHEMA, encode_brushdata, filter_image
from transforms.shards import PAIR_SCHEMA

Chain = list[tuple[str, object, object]]   # (stage name, function or ModelStep, its config section)


def pipe_stages(chain: Chain) -> Chain:
    return chain


def brushdata_stages(chain: Chain) -> Chain:
    """load and propose as configured, then the filter keeping an image whole, then the BrushData encoder."""
    section = {name: cfg for name, _, cfg in chain}
    head = [stage for stage in chain if stage[0] in ("load", "propose")]
    return head + [("filter", filter_image, section["filter"]), ("encode", encode_brushdata, section["encode"])]


@dataclass(frozen=True)
class OutputFormat:
    stages: Callable[[Chain], Chain]   # the PIPE chain -> this format's chain
    schema: pa.Schema                  # shards/NNNNNN.parquet: one row per sample


FORMATS: dict[str, OutputFormat] = {
    "pipe": OutputFormat(pipe_stages, PAIR_SCHEMA),
    "brushdata": OutputFormat(brushdata_stages, BRUSHDATA_SCHEMA),
}
