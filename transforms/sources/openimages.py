"""``openimages``: Open Images V7 instance segmentations (the PIPE paper's third source), or its boxes.

Inputs: ``source.annotations`` the segmentation CSV (``MaskPath, ImageID, LabelName, BoxID, BoxXMin, BoxXMax,
BoxYMin, BoxYMax, PredictedIoU, Clicks``), ``source.images`` the folder of ``<ImageID>.jpg``,
``source.masks`` the folder the per-mask PNGs were extracted to (MaskPath is relative to it), and
``source.classes`` the class-descriptions CSV (``/m/...`` label id -> display name; with or without the
``LabelName,DisplayName`` header). One plan entry per image id (sorted), one object per mask row; its
segmentation ``{"mask_png": path}`` is read by the load stage (transforms/sources/mask_files.py) into an HxW array.
With the box CSV instead (``ImageID, LabelName, XMin, XMax, YMin, YMax``, ..., ``IsGroupOf``; Paint by Example
trains on these) each box is an object whose segmentation ``{"box_norm": [xmin, ymin, xmax, ymax]}`` becomes the
filled box in the load stage; ``source.masks`` is not needed, and a group box (IsGroupOf 1) is crowd.
Class names are the display names in lower case (the label id stays in the object's ann id); a label id
the descriptions lack leaves the class empty, which the annotations masker rejects as unknown_category.
"""
from __future__ import annotations

import csv
import io
import posixpath

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from apache_beam.io.filesystems import FileSystems

from configs.schema import ConfigError, SourceConfig
from transforms.core import fileio
from transforms.sources.mask_files import BOX_NORM, MASK_FILE
from transforms.core.keys import safe_key
from transforms.core.records import PlanEntry
from transforms.sources.common import finish, require_path, unique_keys

REQUIRED = ("MaskPath", "ImageID", "LabelName")
BOX_REQUIRED = ("ImageID", "LabelName", "XMin", "XMax", "YMin", "YMax")
TEXT_COLUMNS = ("MaskPath", "ImageID", "LabelName", "BoxID")


def read_classes(path: str) -> dict[str, tuple[int, str]]:
    """Label id -> (category id = row number in the file, display name)."""
    try:
        rows = list(csv.reader(io.StringIO(fileio.read_bytes(path).decode("utf-8-sig"))))
    except (UnicodeDecodeError, csv.Error) as e:
        raise ConfigError(f"source.classes: {path} is not a UTF-8 CSV ({e})") from None
    if rows and rows[0] and not rows[0][0].startswith(("/m/", "/g/")):
        rows = rows[1:]  # LabelName,DisplayName header (V7); the boxable file has none
    out = {r[0].strip(): (i, r[1].strip()) for i, r in enumerate(rows) if len(r) >= 2 and r[0].strip()}
    if not out:
        raise ConfigError(f"source.classes: {path} maps no label id (expected rows like /m/01g317,Person)")
    return out


USED = ("MaskPath", "ImageID", "LabelName", "PredictedIoU", "XMin", "XMax", "YMin", "YMax", "IsGroupOf")


def read_segmentations(path: str) -> pa.Table:
    """The segmentation (or box) CSV's columns a plan uses (ids kept as text: hex image ids may be all
    digits)."""
    try:
        with FileSystems.open(path) as f:
            table = pacsv.read_csv(f, convert_options=pacsv.ConvertOptions(
                column_types={c: pa.string() for c in TEXT_COLUMNS}))
    except (pa.ArrowInvalid, OSError) as e:
        raise ConfigError(f"source.annotations: {path} is not a readable CSV ({str(e)[:200]})") from None
    need = REQUIRED if "MaskPath" in table.column_names or "XMin" not in table.column_names else BOX_REQUIRED
    missing = [c for c in need if c not in table.column_names]
    if missing:
        raise ConfigError(f"source.annotations: {path} lacks the Open Images column(s) {', '.join(missing)}; "
                          f"its columns: {', '.join(table.column_names)} (give the segmentation CSV, or the box "
                          f"CSV with {', '.join(BOX_REQUIRED)})")
    return table.select([c for c in table.column_names if c in USED])


def _named(table: pa.Table, column: str):
    return pc.fill_null(pc.not_equal(table.column(column), ""), False)


def openimages_rows(cfg: SourceConfig, tally: dict | None = None) -> list[pa.Table]:
    """The CSV's rows that name an image, a label and (masks) a mask file, sorted by image id (file order
    within an id), with ``image``: the image's place in the plan (0, 1, ...); the first ``source.limit``
    images. Arrow only: nothing here is per row."""
    require_path("source.annotations", cfg.annotations)
    require_path("source.classes", cfg.classes)
    require_path("source.images", cfg.images, folder=True)
    read_classes(cfg.classes)   # a bad class list stops the plan, not a worker
    table = read_segmentations(cfg.annotations)
    boxes = table.num_rows > 0 and "MaskPath" not in table.column_names
    if not boxes:
        require_path("source.masks", cfg.masks, folder=True)
    usable = pc.and_(_named(table, "ImageID"), _named(table, "LabelName"))
    table = table.filter(usable if boxes else pc.and_(usable, _named(table, "MaskPath")))
    table = table.take(pc.sort_indices(table, [("ImageID", "ascending")]))   # stable: file order within an id
    n, ids = table.num_rows, table.column("ImageID")
    first = np.ones(n, bool)
    if n > 1:
        first[1:] = pc.not_equal(ids.slice(1), ids.slice(0, n - 1)).to_numpy(zero_copy_only=False)
    image = np.cumsum(first) - 1
    if cfg.limit:
        keep = image < cfg.limit
        table, image = table.filter(pa.array(keep)), image[keep]
    return [table.append_column("image", pa.array(image, pa.int64()))]


def openimages_row_entries(cfg: SourceConfig, rows: pa.Table) -> list[PlanEntry]:
    """Plan entries of ``openimages_rows`` rows, one per image (a worker makes its shard's, reading the class
    list, a few KB, for each shard: a class list edited between runs is never read stale)."""
    classes = read_classes(cfg.classes)
    columns = {c: rows.column(c).to_pylist() for c in rows.column_names if c != "image"}
    image = rows.column("image").to_pylist()
    entries, start = [], 0
    for end in range(1, len(image) + 1):
        if end == len(image) or image[end] != image[start]:
            image_id = columns["ImageID"][start]
            found = [{c: values[i] for c, values in columns.items()} for i in range(start, end)]
            entries.append(PlanEntry(
                safe_key(cfg.name, image_id), FileSystems.join(cfg.images, f"{image_id}.jpg"), image_id,
                image_objects(found, classes, cfg.masks),
                {"dataset": cfg.name, "file_name": f"{image_id}.jpg", "licence": cfg.licence, "licence_url": "",
                 "url": ""}))
            start = end
    return unique_keys(entries)


OPENIMAGES_ROW_KEYS = ("name", "images", "masks", "classes", "licence")   # what openimages_row_entries reads


def box_object(row: dict, classes: dict, index: int) -> dict:
    """One plan-entry object for one row of the box CSV (``index``: its place among the image's boxes)."""
    label = str(row["LabelName"])
    cat, name = classes.get(label, (-1, ""))
    box = [row.get(k) for k in ("XMin", "YMin", "XMax", "YMax")]
    return {"ann_id": safe_key(label.strip("/").replace("/", "_"), index), "category_id": cat,
            "class_name": name.lower(), "segmentation": {BOX_NORM: box},
            "iscrowd": str(row.get("IsGroupOf", "0")).strip() in ("1", "True", "true")}


def image_objects(rows: list[dict], classes: dict, masks: str) -> list[dict]:
    """An image's rows -> objects, in a fixed order (mask path; for boxes label then coordinates)."""
    if "MaskPath" in rows[0]:
        return [mask_object(r, classes, masks) for r in sorted(rows, key=lambda r: str(r["MaskPath"]))]
    coords = ("XMin", "YMin", "XMax", "YMax")
    order = sorted(rows, key=lambda r: (str(r["LabelName"]), *(str(r.get(k)) for k in coords)))
    return [box_object(r, classes, i) for i, r in enumerate(order)]


def mask_object(row: dict, classes: dict, masks: str) -> dict:
    """One plan-entry object for one CSV row."""
    label, mask_path = str(row["LabelName"]), str(row["MaskPath"])
    stem, image_id = posixpath.splitext(posixpath.basename(mask_path))[0], str(row["ImageID"])
    ann = stem[len(image_id) + 1:] if stem.startswith(image_id + "_") else stem
    cat, name = classes.get(label, (-1, ""))
    iou = row.get("PredictedIoU")
    return {"ann_id": safe_key(ann), "category_id": cat, "class_name": name.lower(),
            "segmentation": {MASK_FILE: FileSystems.join(masks, mask_path)},
            "scores": {"predicted_iou": float(iou)} if isinstance(iou, (int, float)) else {}}


def plan_openimages(cfg: SourceConfig) -> list[PlanEntry]:
    """Segmentation rows grouped by image id -> plan entries sorted by image id."""
    return finish([e for rows in openimages_rows(cfg) for e in openimages_row_entries(cfg, rows)], cfg)
