"""Read a finished output folder (the layout written by transforms/stages/write.py) through real readers.

A shard counts only once its ``.stats.json`` commit marker exists; everything here reads finished shards
only, so a run still in progress (or killed) is read consistently. Works on any Beam FileSystems path.
"""
from __future__ import annotations

import posixpath
from typing import Iterator

import pyarrow as pa
import pyarrow.parquet as pq
import yaml
from apache_beam.io.filesystems import FileSystems

from configs.schema import ConfigError
from transforms.core import fileio
from transforms.core.keys import shard_ids
from pipelines.plan import planned_shards
from transforms.formats import FORMATS, OutputFormat
from transforms.stages.write import paths, shard_name


def _ids(folder: str, pattern: str) -> list[int]:
    return shard_ids(fileio.list_names(folder, pattern))


def require_output(out: str) -> None:
    """Raise a user error unless ``out`` looks like an output folder of ``build`` (it has a plan)."""
    if not planned_shards(out):
        raise ConfigError(f"{out}: not an inpaint-pairs output (no plan/NNNNNN.json); give the folder "
                          f"passed to build --output")


def finished_shards(out: str) -> list[int]:
    """Ids of the shards whose commit marker (stats json) exists, ascending."""
    return _ids(fileio.join(out, "shards"), "[0-9]*.stats.json")


def read_stats(out: str, shard: int) -> dict:
    return fileio.read_json(paths(out, shard)["stats"])


def output_format(out: str) -> OutputFormat:
    """The output format a run wrote (its config.yaml's ``output.format``)."""
    config = yaml.safe_load(fileio.read_bytes(fileio.join(out, "config.yaml"))) or {}
    name = (config.get("output") or {}).get("format")
    if name not in FORMATS:
        raise ConfigError(f"{out}/config.yaml: output.format {name!r} is not a format this inpaint-pairs knows "
                          f"({', '.join(FORMATS)})")
    return FORMATS[name]


def source_section(out: str) -> dict:
    """The ``source`` section of the config a run recorded (config.yaml; keys it leaves out are defaults)."""
    config = yaml.safe_load(fileio.read_bytes(fileio.join(out, "config.yaml"))) or {}
    return config.get("source") or {}


def iter_samples(out: str, shard: int) -> Iterator[dict]:
    """The samples of one shard tar in key order: {'__key__', member name: raw bytes, ...} as the output
    format names its members (webdataset's own tar iterators, over a Beam FileSystems stream)."""
    # Imported here on purpose: the webdataset package imports torch (~1.7 s, ~880 MB), which a build that
    # runs no model must not pay for; only readers of samples (report examples, export, check) need it.
    from webdataset.tariterators import group_by_keys, tar_file_expander
    url = paths(out, shard)["tar"]
    with fileio.open_read(url) as f:
        yield from group_by_keys(tar_file_expander([{"url": url, "stream": f}]))


def tar_bytes(out: str, shards: list[int]) -> int:
    """Total size of the given shards' tars (one listing call, any FileSystems path)."""
    wanted = {f"{shard_name(k)}.tar" for k in shards}
    found = FileSystems.match([fileio.join(fileio.glob_escape(out), "shards", "[0-9]*.tar")])[0].metadata_list
    return sum(m.size_in_bytes for m in found if posixpath.basename(m.path.replace("\\", "/")) in wanted)


def read_table(path: str, columns: list[str] | None = None) -> pa.Table:
    if "://" not in path:  # pyarrow's own file reader: about twice as fast as through a Python stream
        return pq.ParquetFile(path).read(columns=columns)
    with fileio.open_read(path) as f:
        return pq.read_table(f, columns=columns)


def read_pairs_table(out: str, shard: int, columns: list[str] | None = None) -> pa.Table:
    return read_table(paths(out, shard)["parquet"], columns)


def read_rejects_table(out: str, shard: int, columns: list[str] | None = None) -> pa.Table:
    return read_table(paths(out, shard)["rejects"], columns)
