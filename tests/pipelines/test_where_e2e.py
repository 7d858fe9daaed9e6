"""``source.where`` end to end (in-process Beam, the demo recipe with brush masks, no models): rows of a
LAION-style table the filter leaves out are never planned, counted once in OUT/plan/summary.json, and that
count reaches report.json, the printed funnel, report.html and the dataset card; the kept rows are the images built."""
from __future__ import annotations

import os
from html import escape

import pyarrow as pa
import pyarrow.parquet as pq

from configs.schema import load_config
from helpers import DEMO_CONFIG, DEMO_DATA
from pipelines import outputs
from pipelines.plan import read_summary
from pipelines.report import format_funnel
from pipelines.report.card_text import md
from pipelines.run import load_report, run_build


def test_rows_left_out_are_counted_in_plan_report_funnel_and_card(tmp_path):
    images = sorted(os.listdir(os.path.join(DEMO_DATA, "images")))[:5]
    table = tmp_path / "laion.parquet"
    pq.write_table(pa.table({"URL": [os.path.join(DEMO_DATA, "images", n) for n in images],
                             "TEXT": ["a cat"] * 5, "aesthetic": [6.0, 4.0, 5.5, 3.0, 7.0],
                             "pwatermark": [0.1, 0.1, 0.9, 0.2, 0.3]}), table)
    rule = "aesthetic >= 5 and pwatermark < 0.5"
    cfg = load_config(DEMO_CONFIG, ["source.kind=laion_parquet", f"source.annotations={table}", "source.name=laion",
                                    "source.url_column=URL", "source.caption_column=TEXT", f"source.where={rule}",
                                    "masks.kind=brush", "image.size=64", "source.shard_size=2"])
    out, lines = str(tmp_path / "out"), []
    report = run_build(cfg, out, [], log=lines.append)
    assert read_summary(out) == {"where": rule, "where_left_out": 3}
    assert report["where_left_out"] == load_report(out)["where_left_out"] == 3
    assert report["images_in"] == 2 and report["images_in"] + report["where_left_out"] == len(images)
    shards = outputs.finished_shards(out)
    built = {k for s in shards for k in outputs.read_pairs_table(out, s, ["image_key"]).column(0).to_pylist()}
    built |= {r["image_key"] for s in shards for r in outputs.read_rejects_table(out, s).to_pylist()}
    assert built == {"laion-0000-000000000", "laion-0000-000000004"}
    assert f"plan: source.where {rule!r} left out 3 rows" in lines
    assert f"source.where {rule!r}: 3 rows left out, never planned" in format_funnel(report)
    card = open(os.path.join(out, "README.md")).read()
    assert f"| {md(f'rows left out by source.where `{rule}`')} | 3 |" in card   # cells are escaped
    page = open(os.path.join(out, "report.html")).read()
    assert f"<p id='where'>source.where <code>{escape(rule)}</code> left out 3 rows, never planned.</p>" in page
