"""Output formats (``output.format``): each file holds one format's whole knowledge as an ``OutputFormat``
(formats/base.py): the stages it runs, encoder, sidecar schema, tar members, card wording, gallery view.

A new format is one file here (copy brushdata.py), one line below, and its config section if it has
settings. The shard writer every format shares is transforms/stages/write.py.
"""
from __future__ import annotations

from transforms.formats.base import OutputFormat
from transforms.formats.brushdata import BRUSHDATA
from transforms.formats.paint_by_example import PAINT_BY_EXAMPLE
from transforms.formats.pipe import PIPE

FORMATS: dict[str, OutputFormat] = {
    "pipe": PIPE,
    "brushdata": BRUSHDATA,
    "paint_by_example": PAINT_BY_EXAMPLE,
}
