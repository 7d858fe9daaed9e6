"""Read the shards for training: (source, target, mask, instruction) with webdataset, or the same through
Hugging Face ``datasets``. Light on purpose: webdataset, Pillow and numpy only (no Beam), so DataLoader
workers start fast.

    from pipelines.loader import pair_dataset, shard_urls
    ds = pair_dataset(shard_urls("out/demo"), kinds=("add", "vlm_llm"), location_p=0.25, shuffle=1000)
    for source, target, mask, instruction in ds: ...

``source`` is the image the instruction applies to and ``target`` the image it should produce. For the
"add" kinds that is ``KEY.source.jpg`` (object removed) -> ``KEY.target.jpg`` (original); a "remove"
instruction swaps them. ``mask`` is the object (L image 0/255; HxW bool with "rgb8" or "torchrgb"). Shards are
split across nodes (``wds.split_by_node``: torch.distributed rank/world size, or RANK/WORLD_SIZE) and
DataLoader workers (``wds.split_by_worker``), so give at least nodes x workers shards.

Outputs on S3 or an S3-compatible store (MinIO, Ceph): ``shard_urls("s3://bucket/out")`` lists the finished
shards as ``s3://bucket/out/shards/NNNNNN.tar`` URLs, and importing this module lets webdataset open such
URLs (streamed with boto3, in every DataLoader worker). Endpoint and credentials come from the standard
environment: ``AWS_ENDPOINT_URL`` (MinIO/Ceph), ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``,
``AWS_PROFILE``, ``AWS_DEFAULT_REGION``.
"""
from __future__ import annotations

import glob
import json
import os
import random
from functools import partial

import numpy as np
import webdataset as wds
from webdataset.gopen import gopen_schemes

from transforms.core.keys import shard_id

# The instruction kinds a pair's json may carry (transforms/language/templates.py): "add" ("add a cat"),
# "add_location" ("add a cat at the top left"), "remove" ("remove the cat"), "vlm_llm" (a free rewrite).
ADD_KINDS = ("add", "vlm_llm")
LOCATION_P = 0.25  # PIPE's default probability of appending the object's location to the instruction


def _s3_client():
    import boto3  # only for s3:// outputs; endpoint and credentials from the AWS environment
    return boto3.client("s3")


def _split_s3(url: str) -> tuple[str, str]:
    bucket, _, key = url[len("s3://"):].partition("/")
    return bucket, key


def open_s3(url: str, mode: str = "rb", bufsize: int = 8192, **kw):
    """webdataset's opener for ``s3://bucket/key``: a streaming read of the object (no local copy)."""
    if mode != "rb":
        raise ValueError(f"{url}: s3:// shards are read-only here (mode {mode!r})")
    bucket, key = _split_s3(url)
    return _s3_client().get_object(Bucket=bucket, Key=key)["Body"]


gopen_schemes["s3"] = open_s3


def _s3_markers(out: str) -> list[str]:
    bucket, prefix = _split_s3(out.rstrip("/") + "/shards/")
    pages = _s3_client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix, Delimiter="/")
    names = [o["Key"][len(prefix):] for page in pages for o in page.get("Contents", [])]
    names = {shard_id(n): n for n in names if n.endswith(".stats.json") and shard_id(n) is not None}
    return [f"s3://{bucket}/{prefix}{names[k]}" for k in sorted(names)]


def shard_urls(out: str) -> list[str]:
    """The finished tar shards (those with a stats json commit marker) of an output folder, local or
    ``s3://bucket/prefix`` (URLs ``s3://bucket/prefix/shards/NNNNNN.tar``, see the module docstring).

    For gs:// pass webdataset URLs yourself, e.g. ``pipe:gsutil cat gs://b/out/shards/{000000..000099}.tar``."""
    if out.startswith("s3://"):
        markers = _s3_markers(out)
    elif "://" in out:
        raise ValueError(f"{out}: only local and s3:// outputs are listed here; for gs:// pass "
                         f"'pipe:gsutil cat gs://.../shards/{{000000..000099}}.tar' URLs (see shard_urls)")
    else:
        found = glob.glob(os.path.join(glob.escape(out), "shards", "[0-9]*.stats.json"))
        markers = sorted((p for p in found if shard_id(os.path.basename(p)) is not None),
                         key=lambda p: shard_id(os.path.basename(p)))
    urls = [m[: -len(".stats.json")] + ".tar" for m in markers]
    if not urls:
        raise FileNotFoundError(f"{out}: no finished shards (shards/NNNNNN.stats.json) found")
    return urls


def choose_instruction(meta: dict, kinds: tuple[str, ...], location_p: float, rng: random.Random) -> tuple[str, str]:
    """(kind, text): one non-empty instruction among ``kinds``, uniformly; then, with probability
    ``location_p``, " at the <location>" appended (unless the text already names it)."""
    have = [k for k in kinds if (meta.get("instructions") or {}).get(k)]
    if not have:
        raise ValueError(f"{meta.get('key', '?')}: none of the instruction kinds {kinds} is present "
                         f"(has {sorted(meta.get('instructions') or {})})")
    kind = rng.choice(have)
    text = meta["instructions"][kind]
    loc = meta.get("location")
    if loc and kind != "add_location" and rng.random() < location_p:
        text = f"{text} at the {loc}"
    return kind, text


def _image(sample: dict, stem: str):
    for name, value in sample.items():
        if name.split(".")[0] == stem and "." in name:
            return value
    raise KeyError(f"{sample.get('__key__', '?')}: no {stem}.* member")


def _mask(mask):
    """PIL -> L image 0/255; numpy HxWx3 uint8 -> HxW bool; torch 3xHxW float -> HxW bool tensor."""
    if isinstance(mask, np.ndarray):
        return (mask[..., 0] if mask.ndim == 3 else mask) > 127
    if hasattr(mask, "dim"):
        return (mask[0] if mask.dim() == 3 else mask) > 0.5
    return mask.convert("L")


def to_example(sample: dict, kinds: tuple[str, ...] = ADD_KINDS, location_p: float = LOCATION_P,
               rng: random.Random | None = None) -> tuple:
    """A decoded sample (webdataset after ``.decode()``, or a ``datasets`` row) -> (source, target, mask,
    instruction); see the module docstring for which image is which."""
    meta = sample["json"]
    if isinstance(meta, (bytes, str)):
        meta = json.loads(meta)
    kind, text = choose_instruction(meta, kinds, location_p, rng or random)
    source, target = _image(sample, "source"), _image(sample, "target")
    if kind == "remove":
        source, target = target, source
    return source, target, _mask(_image(sample, "mask")), text


def _examples(samples, kinds, location_p, seed):
    """Pipeline stage: one random generator per worker (seeded from ``seed`` and the worker's place)."""
    rank, _, worker, _ = wds.utils.pytorch_worker_info()
    rng = random.Random(f"{seed}-{rank}-{worker}") if seed is not None else random.Random()
    for sample in samples:
        yield to_example(sample, kinds, location_p, rng)


def pair_dataset(urls, kinds: tuple[str, ...] = ADD_KINDS, location_p: float = LOCATION_P,
                 shuffle: int = 1000, decode: str = "pil", seed: int | None = None,
                 resampled: bool = False) -> wds.WebDataset:
    """A webdataset pipeline of (source, target, mask, instruction) tuples.

    ``urls``: shard paths or a brace pattern; ``shuffle``: sample shuffle buffer (0 = in order, shards in
    order too); ``decode``: a webdataset image spec ("pil", "rgb8" for HxWx3 uint8, "torchrgb", ...);
    ``resampled``: draw shards with replacement forever (use ``.with_epoch(n)``) for multi-node training."""
    ds = wds.WebDataset(urls, shardshuffle=100 if shuffle else False, resampled=resampled, seed=seed,
                        nodesplitter=wds.split_by_node, workersplitter=wds.split_by_worker)
    if shuffle:
        ds = ds.shuffle(shuffle)
    return ds.decode(decode).compose(partial(_examples, kinds=tuple(kinds), location_p=location_p, seed=seed))


def hf_pair_dataset(urls, split: str = "train", streaming: bool = True, **kw):
    """The same shards through Hugging Face ``datasets`` (its "webdataset" builder); map rows with
    ``to_example``. ``datasets.distributed.split_dataset_by_node`` splits it across nodes."""
    import datasets
    return datasets.load_dataset("webdataset", data_files={split: list(urls)}, split=split, streaming=streaming,
                                 **kw)
