"""``check`` says how large each input is and, where a measurement says, how much driver memory planning it
holds; an input too large to plan on this machine is a problem it names."""
from __future__ import annotations

import os

import pyarrow as pa
import pyarrow.parquet as pq

from helpers import DEMO_CONFIG, DEMO_DATA
from configs.schema import load_config
from pipelines import check


def _line(lines: list[str], key: str) -> str:
    return next(line for line in lines if f" {key} " in line)


def test_check_gives_sizes_and_the_planning_memory_of_a_json(monkeypatch):
    lines, problems = check.check_report(load_config(DEMO_CONFIG))
    size = os.path.getsize(os.path.join(DEMO_DATA, "instances.json"))
    line = _line(lines, "source.annotations")
    assert f"(1 file(s), {size / 1e6:.3g} MB; planning holds ~{size * check.JSON_FACTOR / 1e9:.1f} GB" in line
    assert problems == 0 and " found " in line
    monkeypatch.setattr(check, "physical_memory", lambda: size)   # a machine smaller than the parsed json
    lines, problems = check.check_report(load_config(DEMO_CONFIG))
    assert problems == 1 and " too large " in _line(lines, "source.annotations")


def test_check_counts_a_parquet_tables_rows(tmp_path):
    table = tmp_path / "t.parquet"
    pq.write_table(pa.table({"url": [f"a{i}.jpg" for i in range(400_000)], "caption": ["a cat"] * 400_000}), table)
    cfg = load_config(DEMO_CONFIG, ["source.kind=url_table", f"source.annotations={table}", "source.images="])
    line = _line(check.check_report(cfg)[0], "source.annotations")
    meta = pq.ParquetFile(table).metadata
    held = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups)) * check.TABLE_FACTOR
    assert held > 0 and f"planning holds ~{held / 1e9:.1f} GB in the driver" in line
