"""Export an output folder to PIPE's published parquet schema (Hugging Face ``paint-by-inpaint/PIPE`` and its
companion ``PIPE_Masks``), streaming: one pair in memory at a time plus one row group per open file.

    DIR/data/train-00000.parquet ...   source_img, target_img (image features: struct{bytes, path} plus the
    DIR/data/test-00000.parquet  ...   `huggingface` schema metadata), Instruction_VLM-LLM, Instruction_Class,
                                       Instruction_Ref_Dataset, object_location, target_img_dataset, img_id,
                                       ann_id (strings; "" where an instruction kind does not exist)
    DIR/masks/masktrain-00000.parquet ...  (--with-masks) mask, target_img_dataset, img_id, ann_id; the
    DIR/masks/masktest-00000.parquet  ...  same train/test split as the pairs (PIPE_Masks' two splits)
    DIR/README.md                      dataset card (pipelines/report/card.py)

PIPE's README call ``load_dataset("parquet", data_files={"train": "DIR/data/train-*", "test":
"DIR/data/test-*"})`` works on every export with a test split, which is the default; so do
``load_dataset("parquet", data_dir=DIR)`` (the mask files' ``masktrain`` matches no split pattern: datasets
wants "train" after a separator) and ``load_dataset(DIR)`` / ``load_dataset(DIR, "masks")`` (the card's configs).
The test split holds whole source images: the ``n`` images with the lowest stable hash of dataset/img_id,
``n`` = --test-images, or --test-fraction of the images (at least one), so no photo is in both splits.
"""
from __future__ import annotations

import json
import math
import os
import uuid
import zlib

import pyarrow as pa
import pyarrow.parquet as pq

from configs.schema import ConfigError, SourceConfig
from pipelines import outputs, verify
from pipelines.report.card import write_card
from transforms.core.fileio import TMP_PREFIX, tmp_target
from transforms.formats import OutputFormat
from transforms.formats.pipe import PIPE
from transforms.sources import dataset_of

PIPE_STRINGS = ("Instruction_VLM-LLM", "Instruction_Class", "Instruction_Ref_Dataset", "object_location",
                "target_img_dataset", "img_id", "ann_id")
PIPE_COLUMNS = ("source_img", "target_img") + PIPE_STRINGS
MASK_COLUMNS = ("mask", "target_img_dataset", "img_id", "ann_id")
MAX_FILE_BYTES = 500 * 2**20   # a parquet file is closed once it holds this much row data
ROW_GROUP = 100                # rows per row group (what the Hub's viewer handles well for images)
TEST_FRACTION = 0.01           # default share of source images in the test split (at least one image)


def features(columns: tuple[str, ...]):
    """``datasets.Features`` for the columns: images for the image columns, strings for the rest."""
    try:
        import datasets
    except ImportError:
        raise ConfigError("export needs Hugging Face datasets: pip install 'datasets>=3'") from None
    return datasets.Features({c: datasets.Image() if c in ("source_img", "target_img", "mask")
                              else datasets.Value("string") for c in columns})


def image_hash(dataset: str, img_id: str) -> int:
    """A stable hash of a source image (crc32 of dataset/img_id): the order test images are taken in."""
    return zlib.crc32(f"{dataset}/{img_id}".encode())


def test_images(images: set[tuple[str, str]], fraction: float | None, count: int | None) -> set:
    """The source images (dataset, img_id) of the test split: the ``count`` (or ``fraction`` of them,
    rounded up, at least one) with the lowest stable hash; none when both are 0."""
    n = count if count is not None else math.ceil(fraction * len(images)) if fraction else 0
    if n and n >= len(images):
        raise ConfigError(f"--test-images/--test-fraction: a test split of {n} image(s) leaves no training "
                          f"image (the output has {len(images)} source image(s)); ask for fewer, or pass "
                          f"--test-fraction 0 for an export without a test split")
    return set(sorted(images, key=lambda i: (image_hash(*i), i))[:n])


def split_counts(fraction: float | None, count: int | None) -> None:
    """Reject out-of-range split options with the flag's name."""
    if fraction is not None and not 0.0 <= fraction < 1.0:
        raise ConfigError(f"--test-fraction: {fraction!r} is out of range; allowed 0 to <1")
    if count is not None and count < 0:
        raise ConfigError(f"--test-images: {count!r} is negative; give a count of source images (0 for none)")
    if fraction is not None and count is not None:
        raise ConfigError("--test-fraction and --test-images: give one of them, not both")


def source_image(key: str, image_id: str) -> tuple[str, str]:
    """The source image a pair of key ``key`` comes from: (the source whose name starts its key, its image
    id). In a mix an image two sources name carries its first source's key, so all its pairs, whichever
    source's object they hold, are one image and land in one split."""
    return key.split("-", 1)[0], str(image_id)


def source_images(out: str, shards: list[int]) -> set[tuple[str, str]]:
    """``source_image`` of every pair in the finished shards, read off the parquet sidecars."""
    images = set()
    for shard in shards:
        t = outputs.read_pairs_table(out, shard, ["key", "image_id"])
        images.update(map(source_image, t["key"].to_pylist(), t["image_id"].to_pylist()))
    return images


def mix_names(out: str) -> dict[str, str]:
    """A mix's target_img_dataset per source: source.name -> the proper name of its kind (COCO, LVIS,
    OpenImages), or the name itself for a source of any collection; {} for a build of one source."""
    return {str(item.get("name")): dataset_of(item.get("kind", "coco")) or str(item.get("name"))
            for item in outputs.source_section(out).get("mix") or []}


def dataset_name(out: str, given: str | None) -> str | None:
    """What target_img_dataset says: ``given``; else the source's proper name (COCO, LVIS, OpenImages,
    LAION; each ``Source`` of transforms/sources declares it) unless the run named its source itself (a
    source.name other than the default 'coco' or the kind's own name, e.g. 'demo'); else None (the run's
    source.name stays)."""
    if given is not None:
        if not given.strip():
            raise ConfigError("--dataset-name: empty; name the source dataset (e.g. COCO) or leave it out")
        return given
    src = outputs.source_section(out)
    kind, named = src.get("kind", "coco"), str(src.get("name", SourceConfig.name)).lower()
    proper = dataset_of(kind)
    return proper if proper and named in {SourceConfig.name, kind.lower(), proper.lower()} else None


def _image(sample: dict, stem: str) -> dict:
    name = next(n for n in sample if n.split(".")[0] == stem and "." in n)
    return {"bytes": sample[name], "path": f"{sample['__key__']}.{name}"}


def pipe_rows(sample: dict, name: str | None = None) -> tuple[dict, dict]:
    """One pair's raw members -> (PIPE row, PIPE_Masks row). Instruction_Class is the class instruction
    ("add a cat"), Instruction_VLM-LLM the VLM/LLM one, Instruction_Ref_Dataset a referring-expression one;
    object_location the 3x3 grid cell of transforms/core/geometry.py LOCATIONS; target_img_dataset ``name``
    (the run's source.name when None)."""
    meta = json.loads(sample["json"])
    instr, src = meta.get("instructions") or {}, meta.get("source") or {}
    ids = {"target_img_dataset": name or str(src.get("dataset", "")), "img_id": str(src.get("image_id", "")),
           "ann_id": str(src.get("ann_id", ""))}
    row = {"source_img": _image(sample, "source"), "target_img": _image(sample, "target"),
           "Instruction_VLM-LLM": instr.get("vlm_llm", ""), "Instruction_Class": instr.get("add", ""),
           "Instruction_Ref_Dataset": instr.get("ref_dataset", ""), "object_location": meta.get("location", ""),
           **ids}
    return row, {"mask": _image(sample, "mask"), **ids}


def row_bytes(row: dict) -> int:
    return sum(len(v["bytes"]) if isinstance(v, dict) else len(v) for v in row.values())


class PartWriter:
    """``folder/prefix-00000.parquet``, ``-00001`` ...: a new file once one holds ``max_bytes`` of row data;
    rows buffered one row group at a time. Files appear under their final name only when complete."""

    def __init__(self, folder: str, prefix: str, schema: pa.Schema, max_bytes: int, row_group: int):
        self.folder, self.prefix, self.schema = folder, prefix, schema
        self.max_bytes, self.row_group = max_bytes, row_group
        self.rows: list[dict] = []
        self.files: list[str] = []
        self.count = self.bytes = self._file_bytes = 0
        self._writer = self._tmp = self._final = None

    def add(self, row: dict) -> None:
        self.rows.append(row)
        n = row_bytes(row)
        self.count, self.bytes, self._file_bytes = self.count + 1, self.bytes + n, self._file_bytes + n
        if len(self.rows) >= self.row_group or self._file_bytes >= self.max_bytes:
            self._flush()
        if self._file_bytes >= self.max_bytes:
            self._finish_file()

    def _flush(self) -> None:
        if not self.rows:
            return
        if self._writer is None:
            os.makedirs(self.folder, exist_ok=True)
            name = f"{self.prefix}-{len(self.files):05d}.parquet"
            self._final = os.path.join(self.folder, name)
            self._tmp = os.path.join(self.folder, f"{TMP_PREFIX}{uuid.uuid4().hex[:12]}-{name}")
            self._writer = pq.ParquetWriter(self._tmp, self.schema, compression="snappy")
        self._writer.write_table(pa.Table.from_pylist(self.rows, schema=self.schema), row_group_size=len(self.rows))
        self.rows = []

    def _finish_file(self) -> None:
        self._flush()
        if self._writer is not None:
            self._writer.close()
            os.replace(self._tmp, self._final)
            self.files.append(self._final)
        self._writer, self._file_bytes = None, 0

    def close(self) -> dict:
        self._finish_file()
        return {"num_examples": self.count, "num_bytes": self.bytes,
                "files": [os.path.basename(f) for f in self.files]}

    def abort(self) -> None:
        if self._writer is not None:
            self._writer.close()
            os.remove(self._tmp)


def check_target(to: str) -> None:
    if "://" in to:
        raise ConfigError(f"--to {to}: export writes to a local folder (upload it afterwards, e.g. "
                          f"huggingface-cli upload)")
    for sub in ("data", "masks"):
        folder = os.path.join(to, sub)
        names = os.listdir(folder) if os.path.isdir(folder) else []
        for name in names:
            if tmp_target(name):   # a killed export's file in progress (ours by its name): cleared, not counted
                os.remove(os.path.join(folder, name))
        if any(n.endswith(".parquet") and not tmp_target(n) for n in names):
            raise ConfigError(f"--to {to} already holds an export ({folder}); choose an empty folder")


def check_output(out: str, wanted: OutputFormat = PIPE, what: str = "PIPE-format pairs") -> list[int]:
    """The finished, intact shards of ``out``, an output of format ``wanted`` (``what``: its samples, for the
    message naming what to do with an output of another format)."""
    shards = outputs.finished_shards(out)
    if not shards:
        raise ConfigError(f"{out}: no finished shards to export (is it an inpaint-pairs output?)")
    verify.require_intact(out, shards)
    fmt = outputs.output_format(out)
    if fmt is not wanted:
        other = "export it with --format pipe" if fmt is PIPE else f"read {fmt.name} shards directly"
        raise ConfigError(f"{out} holds {fmt.name} samples: --format {wanted.name} exports {what} (output.format "
                          f"{wanted.name}); {other} (see the card, {out}/README.md)")
    return shards


def export_pipe(out: str, to: str, with_masks: bool = False, test_fraction: float | None = None,
                max_file_bytes: int = MAX_FILE_BYTES, row_group: int = ROW_GROUP,
                test_count: int | None = None, name: str | None = None) -> dict:
    """Stream every finished pair of ``out`` into PIPE's parquet layout under ``to``; write the card.
    The test split: ``test_count`` source images, or ``test_fraction`` of them (default TEST_FRACTION, at
    least one); 0 for none. Returns {"splits": {name: {num_examples, num_bytes, files}}, "masks": {...} or
    None, "test_images": count}."""
    split_counts(test_fraction, test_count)
    shards = check_output(out)
    check_target(to)
    names = mix_names(out) if name is None else {}
    name = dataset_name(out, name)
    fraction = TEST_FRACTION if test_fraction is None and test_count is None else test_fraction
    test = test_images(source_images(out, shards), fraction, test_count)
    pipe_schema, mask_schema = features(PIPE_COLUMNS).arrow_schema, features(MASK_COLUMNS).arrow_schema
    splits = ("train", "test")
    writers = {s: PartWriter(os.path.join(to, "data"), s, pipe_schema, max_file_bytes, row_group) for s in splits}
    masks = {s: PartWriter(os.path.join(to, "masks"), f"mask{s}", mask_schema, max_file_bytes, row_group)
             for s in splits}
    try:
        for shard in shards:
            for sample in outputs.iter_samples(out, shard):
                src = (json.loads(sample["json"]).get("source") or {})
                split = "test" if source_image(sample["__key__"], src.get("image_id", "")) in test else "train"
                row, mask_row = pipe_rows(sample, names.get(str(src.get("dataset", "")), name))
                writers[split].add(row)
                if with_masks:
                    masks[split].add(mask_row)
    except BaseException:
        for w in (*writers.values(), *masks.values()):
            w.abort()
        raise
    result = {"splits": {s: w.close() for s, w in writers.items() if w.count},
              "masks": {s: w.close() for s, w in masks.items() if w.count} if with_masks else None,
              "test_images": len(test)}
    write_card(out, export_layout(result), to)
    return result


def export_layout(result: dict) -> dict:
    """The card's data layout of an export (``result`` from export_pipe): PIPE's parquet configs."""
    kind = lambda c: "image" if c in ("source_img", "target_img", "mask") else "string"  # noqa: E731
    layout = {"kind": "pipe", "configs": {"default": {s: f"data/{s}-*" for s in result["splits"]}},
              "features": {"default": [(c, kind(c)) for c in PIPE_COLUMNS]},
              "splits": {"default": {s: (v["num_examples"], v["num_bytes"]) for s, v in result["splits"].items()}}}
    if result.get("masks"):
        layout["configs"]["masks"] = {s: f"masks/mask{s}-*" for s in result["masks"]}
        layout["features"]["masks"] = [(c, kind(c)) for c in MASK_COLUMNS]
        layout["splits"]["masks"] = {s: (v["num_examples"], v["num_bytes"]) for s, v in result["masks"].items()}
    masks = ('\nmasks = load_dataset("DIR", "masks")  # train/test as the pairs; '
             "join on (target_img_dataset, img_id, ann_id)") if result.get("masks") else ""
    call = ('ds = load_dataset("parquet", data_files={"train": "DIR/data/train-*", "test": "DIR/data/test-*"})'
            '  # PIPE\'s own call; or load_dataset("DIR")') if "test" in result["splits"] else \
        'ds = load_dataset("parquet", data_dir="DIR")  # or load_dataset("DIR"); exported without a test split'
    layout["loading"] = (
        "Parquet with the columns and types of PIPE's release (paint-by-inpaint/PIPE); images are "
        "`datasets` Image features.\n\n```python\nfrom datasets import load_dataset\n"
        f"{call}{masks}\n```\n\n"
        "`Instruction_Class` is the class instruction (\"add a cat\"), `Instruction_VLM-LLM` the "
        "VLM/LLM instruction and `Instruction_Ref_Dataset` a referring-expression one (\"\" when the "
        "recipe made none). `object_location` is one of nine grid cells: top/middle/bottom x "
        "left/center/right (\"top left\", \"center\", ...). The test split holds whole source images "
        "(none of them is in train).")
    return layout
