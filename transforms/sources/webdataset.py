"""``webdataset``: tar shards in img2dataset's layout (``KEY.jpg`` + ``KEY.txt`` + ``KEY.json``) as input.

``source.images`` names the shards: a folder (its ``*.tar``), one tar, a glob, or a brace range
(``shards/{00000..00099}.tar``), on any Beam FileSystems path. Planning reads each tar's headers and its
small text members only (webdataset's key rule: the name up to the first dot); an image's uri is its byte
range in the tar, which the load stage reads with one seek. Keys are ``<name>-<tar name>-<sample key>``.
"""
from __future__ import annotations

import json
import posixpath
import tarfile

import pyarrow as pa
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from configs.schema import ConfigError, SourceConfig
from configs.schema.where import KEY as WHERE_KEY, parse_where
from transforms.core.fetch import member_uri
from transforms.core.records import PlanEntry
from transforms.core.tarfiles import base_plus_ext
from transforms.sources.common import IMAGE_EXTS, caption_entry, finish, input_files
from transforms.sources.where import column_map, select_rows

TEXT_LIMIT = 1 << 20    # caption and json members larger than this are not metadata


def scan_tar(path: str) -> list[tuple[str, dict]]:
    """[(sample key, {'image': (member, offset, size), 'txt': bytes, 'json': bytes})] in tar order."""
    samples: dict[str, dict] = {}
    try:
        with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
            with tarfile.open(fileobj=f, mode="r:" if f.seekable() else "r|") as tar:
                for info in tar:
                    key, ext = base_plus_ext(info.name) if info.isfile() else (None, None)
                    if key is None or posixpath.basename(key).startswith((".", "__")):
                        continue
                    sample, ext = samples.setdefault(key, {}), ext.lower()
                    if ext in IMAGE_EXTS and "image" not in sample:
                        sample["image"] = (info.name, info.offset_data, info.size)
                    elif ext in ("txt", "json") and info.size <= TEXT_LIMIT:
                        sample[ext] = tar.extractfile(info).read()
    except (tarfile.TarError, EOFError) as e:
        raise ConfigError(f"source.images: {path} is not an uncompressed tar ({e}); img2dataset writes plain "
                          f".tar shards") from None
    return list(samples.items())


def _json(data: bytes | None) -> dict:
    try:
        value = json.loads(data) if data else {}
    except (ValueError, UnicodeDecodeError):
        return {}
    return value if isinstance(value, dict) else {}


def sample_entry(cfg: SourceConfig, tar_path: str, key: str, sample: dict) -> PlanEntry:
    """One plan entry; a sample without an image member keeps its place with reject 'no_image'."""
    meta_json = _json(sample.get("json"))
    caption = sample["txt"].decode("utf-8", "replace") if "txt" in sample else str(meta_json.get("caption") or "")
    stem = posixpath.basename(tar_path).split(".")[0]
    h, w = meta_json.get("height"), meta_json.get("width")
    meta = {"url": str(meta_json.get("url") or ""), "file_name": f"{posixpath.basename(tar_path)}/{key}",
            "licence": str(meta_json.get(cfg.licence_column) or "") or cfg.licence,
            "listed_size_hw": [h, w] if type(h) is int and type(w) is int else None}
    image = sample.get("image")
    uri = member_uri(tar_path, image[1], image[2]) if image else ""
    entry = caption_entry(cfg, (stem, posixpath.basename(key)), uri, str(meta_json.get("key") or key), caption, meta)
    return entry if image else entry.reject("no_image", f"{tar_path}: {key} has no image member")


def metadata_table(cfg: SourceConfig, tar_path: str, samples: list[tuple[str, dict]]) -> pa.Table:
    """The columns ``source.where`` reads, one row per sample, from each sample's json (img2dataset writes
    its table row there: aesthetic, punsafe, width, ...); a sample without the key has null there."""
    metas = [_json(sample.get("json")) for _, sample in samples]
    names = sorted({k for m in metas for k in m})
    cols = column_map(parse_where(cfg.where), names, f"the json members of {tar_path}")
    try:
        return pa.table({col: pa.array([m.get(col) for m in metas]) for col in set(cols.values())})
    except (pa.ArrowInvalid, pa.ArrowTypeError) as e:
        raise ConfigError(f"{WHERE_KEY}: a column it reads mixes value types in {tar_path} "
                          f"({str(e).splitlines()[0][:200]})") from None


def tar_entries(cfg: SourceConfig, path: str, budget: int) -> tuple[list[PlanEntry], int]:
    """(entries of one shard's samples that ``source.where`` keeps, the first ``budget`` (0 = all); samples
    it left out)."""
    samples = scan_tar(path)
    if not cfg.where.strip():
        return [sample_entry(cfg, path, key, sample) for key, sample in samples], 0
    chosen = select_rows(cfg.where, metadata_table(cfg, path, samples), path, budget)
    return [sample_entry(cfg, path, *samples[i]) for i in chosen.rows], chosen.left_out


def plan_webdataset(cfg: SourceConfig, tally: dict | None = None) -> list[PlanEntry]:
    """Every sample of every shard ``source.images`` names, shards in sorted order, samples in tar order;
    samples ``source.where`` leaves out are added to ``tally['where_left_out']``."""
    entries: list[PlanEntry] = []
    tally = {} if tally is None else tally
    for path in input_files("source.images", cfg.images, ("tar",)):
        if cfg.limit and len(entries) >= cfg.limit:
            break
        found, left_out = tar_entries(cfg, path, cfg.limit - len(entries) if cfg.limit else 0)
        entries += found
        tally["where_left_out"] = tally.get("where_left_out", 0) + left_out
    return finish(entries, cfg)
