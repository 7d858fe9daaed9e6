"""``url_table`` (alias ``laion_parquet``): a table of image URLs or paths (parquet, CSV or TSV; LAION and
img2dataset's layout, or any table of local paths).

One row = one image. The URL column is required, caption/width/height/licence are used when present
(names configurable in ``source.*_column``, matched case-insensitively, img2dataset's ``url``/``caption`` by
default). Rows may hold http(s) URLs (downloaded by the load stage through the bounded client), object
store URLs (gs://, s3://), or paths relative to the table's folder. A table from the web must not read the
machine it runs on: ``file://`` URLs, absolute paths and relative paths that leave the table's folder are
rejects (``read/local_path_refused``) unless ``source.allow_local_files: true``. Keys are
``<name>-<file index>-<row index>`` over the tables in sorted order, so the plan is deterministic.
"""
from __future__ import annotations

import os
import posixpath
import re

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from configs.schema import ConfigError, SourceConfig
from configs.schema.where import parse_where
from transforms.core.records import PlanEntry
from transforms.sources.common import caption_entry, ext_of, finish, input_files
from transforms.sources.where import column_map, select_rows

TABLE_EXTS = ("parquet", "csv", "tsv")
DEFAULTS = SourceConfig()
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+):")


def resolve_column(names: list[str], key: str, wanted: str, required: bool, path: str) -> str | None:
    """The table's column for ``source.<key>``: exact name, else the one equal ignoring case. A required
    column, or an optional one the user renamed, must exist; a default optional one may be absent."""
    if wanted in names:
        return wanted
    folded = [n for n in names if n.lower() == wanted.lower()]
    if len(folded) == 1:
        return folded[0]
    if required or wanted != getattr(DEFAULTS, key):
        raise ConfigError(f"source.{key}: no column {wanted!r} in {path}; its columns: {', '.join(names)}")
    return None


def table_columns(cfg: SourceConfig, names: list[str], path: str) -> dict[str, str]:
    """{'url': column, 'caption': column, ...} for the columns this table has."""
    keys = {"url": "url_column", "caption": "caption_column", "width": "width_column",
            "height": "height_column", "licence": "licence_column"}
    found = {role: resolve_column(names, key, getattr(cfg, key), role == "url", path) for role, key in keys.items()}
    return {role: col for role, col in found.items() if col}


def read_table(path: str, cfg: SourceConfig) -> tuple[pa.Table, dict[str, str]]:
    """The table's used columns (parquet: only those are read) and the role -> column map."""
    ext = ext_of(path)
    try:
        with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
            if ext == "parquet":
                pf = pq.ParquetFile(f)
                names = pf.schema_arrow.names
                cols = table_columns(cfg, names, path)
                wanted = set(cols.values()) | (set(column_map(parse_where(cfg.where), names, path).values())
                                               if cfg.where.strip() else set())
                return pf.read(columns=sorted(wanted)), cols
            opts = pacsv.ParseOptions(delimiter="\t" if ext == "tsv" else ",", newlines_in_values=True)
            table = pacsv.read_csv(f, parse_options=opts, convert_options=pacsv.ConvertOptions(
                column_types={cfg.url_column: pa.string(), cfg.caption_column: pa.string()}))
    except (pa.ArrowInvalid, OSError) as e:
        raise ConfigError(f"source.annotations: {path} is not a readable {ext} table ({str(e)[:200]})") from None
    return table, table_columns(cfg, table.column_names, path)


LOCAL_REFUSED = "local_path_refused"


def row_uri(url: str, table_path: str, allow_local: bool = False) -> tuple[str, str]:
    """(uri the load stage reads, '' or a reject reason) for one row's URL or path. Paths inside the
    table's folder are read; file:// URLs, absolute paths and paths leaving it only with ``allow_local``."""
    if not url:
        return "", "no_url"
    if url[:7].lower() == "file://":
        return url, "" if allow_local else LOCAL_REFUSED
    if "://" in url[:12]:
        return url, ""          # http(s), gs://, s3://: the load stage reads or refuses it
    m = _SCHEME.match(url)
    if m:
        return url, "bad_scheme"  # data:, javascript:, mailto: ...
    if url.startswith(("/", "\\")) or os.path.isabs(url):
        return url, "" if allow_local else LOCAL_REFUSED
    if "://" in table_path:
        folder = posixpath.dirname(table_path)
        uri = posixpath.normpath(posixpath.join(folder, url)).replace(":/", "://", 1)
        inside = uri.startswith(folder.rstrip("/") + "/")
    else:
        uri = os.path.normpath(os.path.join(os.path.dirname(table_path), url))
        folder = os.path.dirname(os.path.abspath(table_path))
        inside = os.path.abspath(uri).startswith(folder.rstrip(os.sep) + os.sep)
    return uri, "" if inside or allow_local else LOCAL_REFUSED


def _int(value) -> int | None:
    if value is None:
        return None
    try:
        v = int(value)
    except (TypeError, ValueError):
        return None
    return v if v > 0 else None


ROLES = ("url", "caption", "width", "height", "licence")
URL_ROW_KEYS = ("name", "licence", "allow_local_files", "vocabulary", "max_caption_classes")   # url_row_entries'


def table_rows(cfg: SourceConfig, path: str, file_index: int, budget: int) -> tuple[pa.Table, int]:
    """(the rows of one table that ``source.where`` keeps, its first ``budget`` of them (0 = all), as the
    columns ``table``, ``file``, ``row`` and the roles present; the rows it left out). A kept row keeps its
    row number, so keys do not move when the filter changes. Nothing here is per row: Arrow only."""
    table, cols = read_table(path, cfg)
    if cfg.where.strip():
        chosen = select_rows(cfg.where, table, path, budget)
        rows, left_out = pa.array(chosen.rows, pa.int64()), chosen.left_out
        table = table.take(rows)
    else:
        n = min(table.num_rows, budget) if budget else table.num_rows
        rows, left_out, table = pa.array(np.arange(n, dtype=np.int64)), 0, table.slice(0, n)
    n = len(rows)
    out = {"table": pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, np.int32)), pa.array([path])),
           "file": pa.array(np.full(n, file_index, np.int32)), "row": rows}
    out.update({role: table.column(col) for role, col in cols.items()})
    return pa.table(out), left_out


def url_row_entries(cfg: SourceConfig, rows: pa.Table) -> list[PlanEntry]:
    """Plan entries of ``table_rows`` rows (a worker makes its shard's; the rows of several tables may
    follow one another)."""
    data = {name: rows.column(name).to_pylist() for name in rows.column_names}
    entries = []
    for j, i in enumerate(data["row"]):
        get = {role: data[role][j] for role in ROLES if role in data}
        path, url = data["table"][j], str(get.get("url") or "").strip()
        uri, problem = row_uri(url, path, cfg.allow_local_files)
        h, w = _int(get.get("height")), _int(get.get("width"))
        meta = {"url": url, "file_name": f"{posixpath.basename(path)}#{i}",
                "licence": str(get.get("licence") or "") or cfg.licence, "listed_size_hw": [h, w] if h and w else None}
        entry = caption_entry(cfg, (f"{data['file'][j]:04d}", f"{i:09d}"), uri, f"{posixpath.basename(path)}:{i}",
                              get.get("caption") or "", meta)
        entries.append(entry.reject(problem, url[:100]) if problem else entry)
    return entries


def url_rows(cfg: SourceConfig, tally: dict) -> list[pa.Table]:
    """Every table ``source.annotations`` names (a file, a folder, a glob) -> its kept rows (``table_rows``),
    in order, up to ``source.limit``; rows ``source.where`` leaves out are added to
    ``tally['where_left_out']``."""
    found: list[pa.Table] = []
    kept = 0
    for i, path in enumerate(input_files("source.annotations", cfg.annotations, TABLE_EXTS)):
        budget = cfg.limit - kept if cfg.limit else 0
        if cfg.limit and budget <= 0:
            break
        rows, left_out = table_rows(cfg, path, i, budget)
        found.append(rows)
        kept += rows.num_rows
        tally["where_left_out"] = tally.get("where_left_out", 0) + left_out
    return found


def plan_url_table(cfg: SourceConfig, tally: dict | None = None) -> list[PlanEntry]:
    """Every table ``source.annotations`` names -> plan entries, in order (what ``url_rows`` keeps)."""
    tally = {} if tally is None else tally
    return finish([e for rows in url_rows(cfg, tally) for e in url_row_entries(cfg, rows)], cfg)
