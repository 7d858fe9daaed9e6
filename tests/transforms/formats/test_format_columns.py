"""An output format declares the sidecar columns the report and the card read; one that lacks them is refused
when it is defined, not after a build has written every shard."""
from __future__ import annotations

import dataclasses

import pyarrow as pa
import pytest

from transforms.formats import FORMATS
from transforms.formats.base import SHARED_COLUMNS


def test_every_registered_format_writes_what_the_report_and_the_card_read():
    for fmt in FORMATS.values():
        assert set(fmt.card_columns()) <= set(fmt.schema.names), fmt.name
        assert fmt.card_columns()[: len(SHARED_COLUMNS)] == list(SHARED_COLUMNS)


def test_a_format_without_a_shared_column_is_refused_naming_it():
    pipe = FORMATS["pipe"]
    schema = pa.schema([f for f in pipe.schema if f.name != "dataset"])
    with pytest.raises(ValueError, match="output format 'minimal'.*no column dataset"):
        dataclasses.replace(pipe, name="minimal", schema=schema)
    with pytest.raises(ValueError, match="no column nowhere"):
        dataclasses.replace(pipe, name="minimal", location_column="nowhere")
