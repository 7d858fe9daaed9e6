"""Export a ``paint_by_example`` output to the folder layout Paint by Example's own training code reads
(Fantasy-Studio/Paint-by-Example: ``ldm/data/open-images.py`` ``OpenImageDataset``, ``configs/v1.yaml``).

    DIR/bbox/<d>/<stem>.txt     one line per triplet of the image, "x_min y_min x_max y_max\\n": whole pixels
                                of the exported image, XYXY, x_max/y_max exclusive, inside the image
    DIR/images/<d>/<stem>.jpg   the build's image (the frame the boxes refer to: the tar member KEY.image),
                                JPEG without EXIF (the loader reads it with both Pillow and cv2.imread, and
                                cv2 would turn an EXIF-rotated image, Pillow not)
    DIR/README.md               dataset card (pipelines/report/card.py) with how to train

``<d>`` is one of FOLDERS (train_0 ... train_f, validation, test); all 18 ``bbox/`` folders exist, empty or
not (PbE's main.py builds all three datasets, and each lists its folders). ``<stem>`` is the sample's
image_key (``<source.name>-<image id>``, keys hold only [A-Za-z0-9_-]): one file per source image.

Splits take whole source images in the stable hash order of pipelines/export.py (``image_hash``): the test
split as the PIPE export takes it (--test-images N, or --test-fraction F of the images, at least one; 0 for
none), the validation split the same number of images, the next ones in that order. A training image goes
to ``train_<h>``, ``h`` the hash modulo 16 in hex.
"""
from __future__ import annotations

import io
import json
import os
import re

from PIL import Image

from configs.schema import ConfigError
from pipelines import outputs
from pipelines.export import (TEST_FRACTION, check_output, image_hash, source_image, source_images, split_counts,
                              test_images)
from pipelines.report.card import write_card
from transforms.formats.paint_by_example import PAINT_BY_EXAMPLE

TRAIN_FOLDERS = tuple(f"train_{d}" for d in "0123456789abcdef")
FOLDERS = TRAIN_FOLDERS + ("validation", "test")
JPEG_QUALITY = 95   # when the build wrote png: re-encoded once, 4:4:4 chroma (as the build's own jpgs)
_STEM = re.compile(r"[A-Za-z0-9_-]+")


def held_out(images: set[tuple[str, str]], fraction: float | None, count: int | None) -> tuple[set, set]:
    """(test, validation) source images (dataset, img_id): test as ``test_images`` takes it, validation the
    same number of images, the next ones in the same stable hash order. Raises when no training image is left."""
    test = test_images(images, fraction, count)
    if test and 2 * len(test) >= len(images):
        raise ConfigError(f"--test-images/--test-fraction: a test split of {len(test)} image(s) and a validation "
                          f"split of as many leave no training image (the output has {len(images)} source "
                          f"image(s)); ask for fewer, or pass --test-fraction 0 for an export without them")
    rest = sorted(images - test, key=lambda i: (image_hash(*i), i))
    return test, set(rest[:len(test)])


def folder_of(image: tuple[str, str], test: set, validation: set) -> str:
    """The ``<d>`` of a source image (dataset, img_id): test, validation, or train_<hash mod 16 in hex>."""
    if image in test:
        return "test"
    if image in validation:
        return "validation"
    return TRAIN_FOLDERS[image_hash(*image) % 16]


def jpeg(data: bytes) -> tuple[bytes, tuple[int, int]]:
    """Image bytes -> (JPEG bytes without EXIF, (width, height)). JPEG bytes without EXIF are kept as they
    are; anything else (png, or a JPEG with EXIF) is decoded as stored and re-encoded, with no EXIF."""
    with Image.open(io.BytesIO(data)) as im:
        size = im.size
        if im.format == "JPEG" and not im.getexif() and im.mode == "RGB":
            return data, size
        buf = io.BytesIO()
        im.convert("RGB").save(buf, "JPEG", quality=JPEG_QUALITY, subsampling=0)
    return buf.getvalue(), size


def box_line(key: str, box: list[int], size: tuple[int, int]) -> str:
    """An XYXY pixel box (x2, y2 exclusive) in an image of ``size`` (width, height) -> PbE's box line
    "x1 y1 x2 y2\\n". Raises when the box is not a non-empty box inside the image (a damaged output)."""
    w, h = size
    if len(box) != 4 or not (0 <= box[0] < box[2] <= w and 0 <= box[1] < box[3] <= h):
        raise ConfigError(f"triplet {key}: box {box} is not inside its {w}x{h} image; the output is damaged "
                          f"(inpaint-pairs verify OUT), rebuild it")
    return " ".join(str(int(v)) for v in box) + "\n"


def check_target(to: str) -> None:
    """A new or empty local folder, else a ConfigError saying what to do."""
    if "://" in to:
        raise ConfigError(f"--to {to}: export writes to a local folder (copy it to the training machine "
                          f"afterwards)")
    if os.path.exists(to) and (not os.path.isdir(to) or os.listdir(to)):
        raise ConfigError(f"--to {to}: not an empty folder; choose a new or empty one (an export stopped "
                          f"half-way leaves a partial one: remove it and export again)")


def source_of(key: str, meta: dict) -> tuple[str, str]:
    return source_image(key, (meta.get("source") or {}).get("image_id", ""))


def write_image(data: bytes, path: str) -> tuple[int, int]:
    """Write the image once (as ``jpeg`` gives it) unless ``path`` exists; its (width, height)."""
    if os.path.exists(path):
        with Image.open(path) as im:
            return im.size
    data, size = jpeg(data)
    with open(path, "wb") as f:
        f.write(data)
    return size


def export_shard(out: str, shard: int, to: str, test: set, validation: set, counts: dict) -> None:
    """Write one shard's images (once per stem) and append its box lines to their stems' files;
    ``counts[d]`` gains [images, triplets, image bytes] per folder."""
    lines: dict[tuple[str, str], list[str]] = {}
    sizes: dict[str, tuple[int, int]] = {}
    for sample in outputs.iter_samples(out, shard):
        meta = json.loads(sample["json"])
        stem = str(meta.get("image_key", ""))
        if not _STEM.fullmatch(stem):
            raise ConfigError(f"{out}: triplet {sample['__key__']} has image_key {stem!r}, not a file stem")
        d = folder_of(source_of(sample["__key__"], meta), test, validation)
        tally = counts.setdefault(d, [0, 0, 0])
        if stem not in sizes:
            path = os.path.join(to, "images", d, f"{stem}.jpg")
            new = not os.path.exists(path)
            sizes[stem] = write_image(sample["image"], path)
            tally[0], tally[2] = tally[0] + new, tally[2] + (os.path.getsize(path) if new else 0)
        bbox = [int(v) for v in sample["bbox"].decode().split()]
        lines.setdefault((d, stem), []).append(box_line(sample["__key__"], bbox, sizes[stem]))
        tally[1] += 1
    for (d, stem), rows in lines.items():
        with open(os.path.join(to, "bbox", d, f"{stem}.txt"), "a", encoding="ascii") as f:
            f.write("".join(rows))


def export_pbe(out: str, to: str, test_fraction: float | None = None, test_count: int | None = None) -> dict:
    """Write every finished triplet of ``out`` in Paint by Example's layout under ``to``; write the card.
    Returns {"folders": {d: {"images", "triplets", "num_bytes"}} (folders holding images), "test_images",
    "validation_images"}."""
    split_counts(test_fraction, test_count)
    shards = check_output(out, PAINT_BY_EXAMPLE, "Paint by Example triplets")
    check_target(to)
    fraction = TEST_FRACTION if test_fraction is None and test_count is None else test_fraction
    test, validation = held_out(source_images(out, shards), fraction, test_count)
    for kind in ("bbox", "images"):
        for d in FOLDERS:
            os.makedirs(os.path.join(to, kind, d), exist_ok=True)
    counts: dict[str, list[int]] = {}
    for shard in shards:
        export_shard(out, shard, to, test, validation, counts)
    result = {"folders": {d: dict(zip(("images", "triplets", "num_bytes"), counts[d])) for d in FOLDERS
                          if d in counts},
              "test_images": len(test), "validation_images": len(validation)}
    write_card(out, pbe_layout(result), to)
    return result


def pbe_layout(result: dict) -> dict:
    """The card's data layout of a Paint by Example export: the images by split (the Hub viewer's view; the
    boxes are for PbE's loader) and how to train on it."""
    splits: dict[str, list[int]] = {}
    for d, v in result["folders"].items():
        split = "train" if d in TRAIN_FOLDERS else d
        n, b = splits.get(split, [0, 0])
        splits[split] = [n + v["images"], b + v["num_bytes"]]
    patterns = {"train": "images/train_*/*.jpg", "validation": "images/validation/*.jpg", "test": "images/test/*.jpg"}
    return {"kind": "paint_by_example",
            "configs": {"default": {s: patterns[s] for s in splits}},
            "features": {"default": [("image", "image")]},
            "splits": {"default": {s: tuple(v) for s, v in splits.items()}},
            "loading": LOADING.format(test=result["test_images"], validation=result["validation_images"])}


LOADING = """Paint by Example's own training layout (Fantasy-Studio/Paint-by-Example, `ldm/data/open-images.py`
`OpenImageDataset`): `images/<d>/<stem>.jpg` and `bbox/<d>/<stem>.txt`, `<d>` one of `train_0` ... `train_f`,
`validation`, `test`. A box file holds one line per object of its image, `x_min y_min x_max y_max` in pixels of
that image (x_max, y_max exclusive); the loader picks one at random and makes the mask and the reference itself.
`<stem>` is `<source name>-<image id>`. Validation ({validation} image(s)) and test ({test} image(s)) hold whole
source images, none of them in train. `load_dataset("DIR", drop_labels=True)` gives the images by split (the card's
configs; without `drop_labels`, `datasets` adds each image's folder name as a `label`).

The loader reads the box files under `dataset_dir` but the images from `dataset/open-images/images`,
relative to the folder it runs in. In a checkout of Paint-by-Example:

```
mkdir -p dataset && ln -s /path/to/DIR dataset/open-images
# configs/v1.yaml: data.params.train/validation/test.params.dataset_dir: dataset/open-images
#                  image_size: 512 (the loader resizes to it), arbitrary_mask_percent: 0.5 (PbE's)
python -u main.py --logdir models/Paint-by-Example \\
  --pretrained_model pretrained_models/sd-v1-4-modified-9channel.ckpt --base configs/v1.yaml --scale_lr False
```

Each image keeps its source's licence (Sources and licences, below)."""
