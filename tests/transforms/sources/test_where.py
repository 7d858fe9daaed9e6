"""``source.where``: the safe expression language (configs/schema/where.py), rows of URL tables (parquet,
CSV) and img2dataset shards it keeps and leaves out (transforms/sources/where.py), the counts that add up
with ``source.limit``, and errors naming the key and the missing column."""
from __future__ import annotations

import json
import re

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import webdataset as wds

from configs.schema import ConfigError, SourceConfig
from configs.schema.where import parse_where, where_columns
from transforms.sources import plan_with_summary
from transforms.sources.where import select_rows
from web import NAMES, photo

LAION = {"url": [f"http://h/{i}.jpg" for i in range(6)], "caption": ["a cat"] * 6,
         "AESTHETIC": [6.1, 4.9, 5.0, None, 7.2, 5.5], "punsafe": [0.0, 0.0, 0.2, 0.0, 0.05, 0.01],
         "pwatermark": [0.1, 0.1, 0.1, 0.1, 0.9, 0.4]}
RULE = "aesthetic >= 5 and punsafe < 0.1 and pwatermark < 0.5"


def plan(**kw) -> tuple[list[dict], dict]:
    shards, summary = plan_with_summary(SourceConfig(**{"name": "t", **kw}))
    return [e.to_json() for shard in shards for e in shard], summary


@pytest.mark.parametrize("text, columns", [
    ("aesthetic >= 5", ["aesthetic"]), ("not (b == 'x') or a < -1.5", ["a", "b"]),
    ("1 < a <= 3 and (b != 2)", ["a", "b"]), ("a == True", ["a"]), (RULE, ["aesthetic", "punsafe", "pwatermark"])])
def test_the_language_keeps_comparisons_and_logic(text, columns):
    assert where_columns(parse_where(text)) == columns


@pytest.mark.parametrize("text, said", [
    ("__import__('os').system('x') == 1", "is not allowed"), ("a.b > 1", "'a.b' is not allowed"),
    ("a > ", "syntax error"), ("a + 1 > 2", "'a + 1' is not allowed"), ("a", "is not a condition"),
    ("a in [1, 2]", "is not allowed"), ("a == None", "None is not allowed"), ("-a > 1", "'-' only before a number"),
    ("f(a) > 1", "is not allowed")])
def test_anything_else_is_refused_at_config_load(text, said):
    with pytest.raises(ConfigError, match=f"source.where: .*{re.escape(said)}"):
        SourceConfig(where=text)


def test_select_rows_nulls_count_as_false_and_limits_count_what_was_read():
    table = pa.table({k: LAION[k] for k in ("AESTHETIC", "punsafe", "pwatermark")})
    assert select_rows(RULE, table, "t").rows == [0, 5] and select_rows(RULE, table, "t").left_out == 4
    first = select_rows("aesthetic >= 5", table, "t", budget=2)
    assert first.rows == [0, 2] and first.left_out == 1      # row 1 left out; rows after 2 never looked at
    assert select_rows("", table, "t", budget=4).rows == [0, 1, 2, 3]
    with pytest.raises(ConfigError, match="source.where: 'caption > 1' cannot be evaluated"):
        select_rows("caption > 1", pa.table({"caption": ["a"]}), "t")


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_url_table_rows_selected_keep_their_row_keys(tmp_path, fmt):
    path = tmp_path / f"part.{fmt}"
    if fmt == "parquet":
        pq.write_table(pa.table(LAION), path)
    else:
        pa.csv.write_csv(pa.table(LAION), path)
    entries, summary = plan(kind="url_table", annotations=str(path), where=RULE)
    assert [e["key"] for e in entries] == ["t-0000-000000000", "t-0000-000000005"]
    assert [e["uri"] for e in entries] == ["http://h/0.jpg", "http://h/5.jpg"]
    assert summary == {"where": RULE, "where_left_out": 4} and len(entries) + 4 == len(LAION["url"])
    everything, none = plan(kind="url_table", annotations=str(path))
    assert len(everything) == 6 and none == {"where": "", "where_left_out": 0}


def test_url_tables_with_limit_and_a_missing_column(tmp_path):
    pq.write_table(pa.table(LAION), tmp_path / "a.parquet")
    pq.write_table(pa.table(LAION), tmp_path / "b.parquet")
    entries, summary = plan(kind="url_table", annotations=str(tmp_path), where=RULE, limit=3)
    assert [e["key"] for e in entries] == ["t-0000-000000000", "t-0000-000000005", "t-0001-000000000"]
    assert summary["where_left_out"] == 4       # a's 4 rows; b read up to its first kept row only
    with pytest.raises(ConfigError, match=r"source.where: no column 'clip_score' in .*a.parquet; its columns: "
                                          r"url, caption, AESTHETIC, punsafe, pwatermark"):
        plan(kind="url_table", annotations=str(tmp_path), where="clip_score > 0.3")
    with pytest.raises(ConfigError, match=r"source.where='aesthetic > 100' left out all 12 rows"):
        plan(kind="url_table", annotations=str(tmp_path), where="aesthetic > 100")


def write_shard(path: str, metas: list[dict]) -> None:
    with wds.TarWriter(path) as sink:
        for i, meta in enumerate(metas):
            sink.write({"__key__": f"{i:09d}", "jpg": photo(NAMES[i % len(NAMES)]), "txt": "a dog",
                        "json": json.dumps({"key": f"{i:09d}", **meta}).encode()})


def test_img2dataset_samples_selected_by_their_json(tmp_path):
    write_shard(str(tmp_path / "00000.tar"), [{"aesthetic": 6, "punsafe": 0.0, "pwatermark": 0.1},
                                              {"aesthetic": 4.5, "punsafe": 0.0, "pwatermark": 0.1},
                                              {"punsafe": 0.0}])   # no aesthetic in its json: left out
    write_shard(str(tmp_path / "00001.tar"), [{"aesthetic": 5.5, "punsafe": 0.0, "pwatermark": 0.2}])
    entries, summary = plan(kind="webdataset", images=str(tmp_path), where=RULE)
    assert [e["key"] for e in entries] == ["t-00000-000000000", "t-00001-000000000"]
    assert summary["where_left_out"] == 2
    with pytest.raises(ConfigError, match=r"source.where: no column 'similarity' in the json members of "
                                          r".*00000.tar; its columns: aesthetic, key, punsafe, pwatermark"):
        plan(kind="webdataset", images=str(tmp_path), where="similarity > 0.3")


def test_where_on_a_source_without_columns_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="source.where: selects rows of url_table and webdataset sources "
                                          "only, not source.kind=folder"):
        plan(kind="folder", images=str(tmp_path), where="a > 1")
