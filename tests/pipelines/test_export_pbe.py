"""Paint by Example export: the folder layout PbE's own loader reads (Fantasy-Studio/Paint-by-Example,
ldm/data/open-images.py OpenImageDataset), read back by rules written down from that loader, and every box
checked against the source annotation it came from."""
from __future__ import annotations

import glob
import io
import json
import math
import os
import random

import cv2
import numpy as np
import pytest
import webdataset as wds
import yaml
from PIL import Image

from configs.schema import ConfigError, load_config
from helpers import DEMO_CONFIG, DEMO_DATA
from pipelines import cli
from pipelines.export_pbe import box_line, export_pbe, held_out
from pipelines.run import run_build

TRAIN = [f"train_{c}" for c in "0123456789abcdef"]
FOLDERS = TRAIN + ["validation", "test"]
LOOSE = ["filters.min_area_ratio=0.005", "filters.max_area_ratio=0.9", "filters.max_border_touch=1.0",
         "filters.min_component_share=0.0", "filters.max_objects=0"]
BUILDS = {  # name -> overrides: a square crop kept as jpg; a non-square frame written as png (re-encoded)
    "crop_jpg": ["image.size=128"],
    "side_png": ["image.size=160", "image.resize=short_side", "output.image_format=png"],
}
ORIENTATION = 0x0112


def _sets(name: str) -> list[str]:
    return ["output.format=paint_by_example", "output.pbe.reference_size=32", "output.pbe.min_object_side=4",
            *LOOSE, *BUILDS[name]]


@pytest.fixture(scope="module", params=sorted(BUILDS))
def exported(request, tmp_path_factory):
    """(build output, export folder, build overrides, the tar samples by key) of one paint_by_example build."""
    root = tmp_path_factory.mktemp(request.param)
    out, to = str(root / "out"), str(root / "pbe")
    run_build(load_config(DEMO_CONFIG, _sets(request.param)), out, [], log=lambda *_: None)
    assert cli.main(["export", out, "--format", "paint_by_example", "--to", to]) == 0
    samples = {s["__key__"]: s for s in wds.WebDataset(sorted(glob.glob(f"{out}/shards/*.tar")), shardshuffle=False)}
    return out, to, _sets(request.param), samples


def read_boxes(path: str) -> list[list[int]]:
    """A box file read as PbE's loader reads it: line by line until readline gives '', each line stripped of
    its newline, split at single spaces, the first four fields int(float(field))."""
    boxes = []
    with open(path) as f:
        line = f.readline()
        while line:
            fields = line.strip("\n").split(" ")
            assert len(fields) == 4, (path, line)          # ours: exactly four fields, nothing else
            boxes.append([int(float(v)) for v in fields[:4]])
            line = f.readline()
    return boxes


class PbeStyleDataset:
    """What OpenImageDataset does with the layout, written from its rules: list bbox/train_0..f (or validation,
    test) with os.listdir, sort; per file take the image 'dataset/open-images/images/<dir>/<stem>.jpg' relative
    to the working folder, pick a box at random, read the image with Pillow and with cv2, cut the reference
    (box grown by up to 10 px inside the image) and draw the extended box (up to 40% of each free side)."""

    def __init__(self, state: str, dataset_dir: str):
        names = TRAIN if state == "train" else [state]
        self.paths = sorted(os.path.join(dataset_dir, "bbox", n, f) for n in names
                            for f in os.listdir(os.path.join(dataset_dir, "bbox", n)))

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i: int) -> dict:
        path = self.paths[i]
        stem, folder = os.path.splitext(os.path.basename(path))[0], path.split("/")[-2]
        image_path = os.path.join("dataset/open-images/images", folder, stem + ".jpg")
        box = random.choice(read_boxes(path))
        pil = Image.open(image_path).convert("RGB")
        bgr = cv2.imread(image_path)
        w, h = pil.size
        pad = [box[0] - min(10, box[0]), box[1] - min(10, box[1]), box[2] + min(10, w - box[2]),
               box[3] + min(10, h - box[3])]
        reference = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)[pad[1]:pad[3], pad[0]:pad[2]]
        grown = [random.randint(0, int(0.4 * free)) for free in (box[0], box[1], w - box[2], h - box[3])]
        return {"pil": np.asarray(pil), "cv2": bgr[:, :, ::-1], "box": box, "reference": reference, "grown": grown}


def test_layout_is_the_18_folders_with_one_box_file_per_image(exported):
    out, to, _, samples = exported
    for kind in ("bbox", "images"):
        assert sorted(os.listdir(os.path.join(to, kind))) == sorted(FOLDERS)
    boxes = {(d, f) for d in FOLDERS for f in os.listdir(os.path.join(to, "bbox", d))}
    images = {(d, f) for d in FOLDERS for f in os.listdir(os.path.join(to, "images", d))}
    assert all(f.endswith(".txt") for _, f in boxes) and all(f.endswith(".jpg") for _, f in images)
    assert {(d, f[:-4]) for d, f in boxes} == {(d, f[:-4]) for d, f in images}
    assert all(os.path.isfile(os.path.join(to, "bbox", d, f)) for d, f in boxes)   # nothing else under bbox/
    stems = [f[:-4] for _, f in boxes]
    keys = {json.loads(s["json"])["image_key"] for s in samples.values()}
    assert sorted(stems) == sorted(keys) and len(set(stems)) == len(stems)          # one file per source image
    assert all(stem.startswith("demo-") for stem in stems)                         # <source.name>-<image id>


def test_box_files_hold_one_line_per_triplet_inside_its_image(exported):
    out, to, _, samples = exported
    by_image = {}
    for s in samples.values():
        meta = json.loads(s["json"])
        by_image.setdefault(meta["image_key"], []).append(meta["bbox_xyxy"])
    lines = 0
    for path in glob.glob(f"{to}/bbox/*/*.txt"):
        stem = os.path.basename(path)[:-4]
        boxes = read_boxes(path)
        text = open(path, newline="").read()
        assert text.endswith("\n") and "\n\n" not in text and "\r" not in text and "  " not in text
        assert sorted(boxes) == sorted(by_image[stem]) and boxes                    # every triplet, at least one
        image = os.path.join(to, "images", path.split("/")[-2], stem + ".jpg")
        w, h = Image.open(image).size
        assert cv2.imread(image).shape[:2] == (h, w)
        for x1, y1, x2, y2 in boxes:
            assert 0 <= x1 < x2 <= w and 0 <= y1 < y2 <= h
        lines += len(boxes)
    assert lines == len(samples)


def test_images_are_the_builds_frames_as_jpeg_without_exif(exported):
    out, to, sets, samples = exported
    first = {}
    for s in samples.values():
        first.setdefault(json.loads(s["json"])["image_key"], s["image"])
    for path in glob.glob(f"{to}/images/*/*.jpg"):
        data = open(path, "rb").read()
        im = Image.open(io.BytesIO(data))
        assert data[:2] == b"\xff\xd8" and im.format == "JPEG" and im.mode == "RGB"
        assert ORIENTATION not in im.getexif() and b"Exif\x00\x00" not in data
        built = first[os.path.basename(path)[:-4]]
        if "output.image_format=png" in sets:    # re-encoded once, the same frame and pixels up to JPEG's loss
            src = np.asarray(Image.open(io.BytesIO(built)).convert("RGB")).astype(int)
            assert src.shape == np.asarray(im).shape and np.abs(src - np.asarray(im)).mean() < 3
        else:
            assert data == built                  # the build's own JPEG bytes, copied


def _expected_box(ann: dict, image: dict, cfg, frame_hw) -> list[float]:
    """The annotation's extent (polygon points, or the COCO bbox for an RLE) in the output frame, continuous
    coordinates: scale by the resized size over the source size, minus the centre crop's offset, clipped."""
    h, w = image["height"], image["width"]
    scale = cfg.image.size / min(h, w)
    rh, rw = max(cfg.image.size, round(h * scale)), max(cfg.image.size, round(w * scale))
    y0, x0 = ((rh - cfg.image.size) // 2, (rw - cfg.image.size) // 2) if cfg.image.resize == "short_side_crop" \
        else (0, 0)
    seg = ann["segmentation"]
    if not isinstance(seg, list):
        x, y, bw, bh = ann["bbox"]
        seg = [[x, y, x + bw, y + bh]]
    xs = [v * rw / w - x0 for poly in seg for v in poly[0::2]]
    ys = [v * rh / h - y0 for poly in seg for v in poly[1::2]]
    return [max(0.0, min(xs)), max(0.0, min(ys)), min(frame_hw[1], max(xs)), min(frame_hw[0], max(ys))]


def test_each_box_is_its_source_objects_box_in_the_exported_frame(exported):
    """Against the COCO annotation moved by image.resize: within one pixel of the exported frame for the
    nearest-neighbour resize of the mask, plus one source pixel (the polygon is rasterised at source size)."""
    out, to, sets, samples = exported
    cfg = load_config(DEMO_CONFIG, sets)
    coco = json.load(open(os.path.join(DEMO_DATA, "instances.json")))
    images, anns = {i["id"]: i for i in coco["images"]}, {a["id"]: a for a in coco["annotations"]}
    files = {os.path.basename(p)[:-4]: p for p in glob.glob(f"{to}/bbox/*/*.txt")}
    for key, s in samples.items():
        meta = json.loads(s["json"])
        src = meta["source"]
        image, ann = images[int(src["image_id"])], anns[int(src["ann_id"])]
        jpg = files[meta["image_key"]].replace("/bbox/", "/images/")[:-4] + ".jpg"
        w, h = Image.open(jpg).size
        assert [h, w] == meta["size_hw"]
        box = meta["bbox_xyxy"]
        assert box in read_boxes(files[meta["image_key"]]) and s["bbox"].decode() == " ".join(map(str, box))
        tolerance = 1 + cfg.image.size / min(image["height"], image["width"])
        expected = _expected_box(ann, image, cfg, (h, w))
        assert max(abs(b - e) for b, e in zip(box, expected)) <= tolerance, (key, box, expected)
        mask = np.asarray(Image.open(io.BytesIO(s["mask.png"]))) > 127        # the irregular mask is around it
        ys, xs = np.nonzero(mask)
        reach = cfg.output.pbe.bulge * max(box[2] - box[0], box[3] - box[1]) + cfg.output.pbe.max_offset + 1
        edges = [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
        assert max(abs(e - b) for e, b in zip(edges, box)) <= reach, (key, box, edges)


def test_splits_hold_whole_images_validation_as_many_as_test(exported, capsys):
    out, to, _, samples = exported
    where = {os.path.basename(p)[:-4]: p.split("/")[-2] for p in glob.glob(f"{to}/bbox/*/*.txt")}
    assert sum(d == "test" for d in where.values()) == 1 == sum(d == "validation" for d in where.values())
    n = max(1, (len(where) - 1) // 2)                                          # as many as leave training images
    again = os.path.join(os.path.dirname(to), "again")
    assert cli.main(["export", out, "--format", "paint_by_example", "--to", again, "--test-images", str(n)]) == 0
    assert f"test split: {n} whole source image(s), validation: {n}" in capsys.readouterr().out
    moved = {os.path.basename(p)[:-4]: p.split("/")[-2] for p in glob.glob(f"{again}/bbox/*/*.txt")}
    assert sum(d == "test" for d in moved.values()) == n == sum(d == "validation" for d in moved.values())
    test = {k for k, d in where.items() if d == "test"}
    assert test <= {k for k, d in moved.items() if d == "test"}               # the same order, maybe more images
    assert cli.main(["export", out, "--format", "paint_by_example", "--to", os.path.join(to, "..", "refused"),
                     "--test-images", str(len(where) // 2)]) == 2               # test + validation = every image
    assert "validation split of as many leave no training image" in capsys.readouterr().err
    trained = {k: d for k, d in moved.items() if d.startswith("train_")}
    assert all(where[k] == d for k, d in trained.items())                      # a train folder is the image's own
    none = os.path.join(os.path.dirname(to), "none")
    assert cli.main(["export", out, "--format", "paint_by_example", "--to", none, "--test-fraction", "0"]) == 0
    assert not os.listdir(f"{none}/bbox/test") and not os.listdir(f"{none}/bbox/validation")
    assert len(glob.glob(f"{none}/bbox/train_*/*.txt")) == len(where)


def test_a_second_export_is_the_same_bytes(exported, tmp_path):
    out, to, _, _ = exported
    export_pbe(out, str(tmp_path / "twice"))
    files = lambda root: {os.path.relpath(p, root): open(p, "rb").read()  # noqa: E731
                          for p in glob.glob(f"{root}/*/*/*")}
    assert files(to) == files(str(tmp_path / "twice")) and files(to)


def test_pbe_style_loader_reads_every_file_from_the_working_folder(exported, tmp_path, monkeypatch):
    out, to, _, samples = exported
    os.makedirs(tmp_path / "work" / "dataset")
    os.symlink(to, tmp_path / "work" / "dataset" / "open-images")
    monkeypatch.chdir(tmp_path / "work")
    random.seed(0)
    read = 0
    for state in ("train", "validation", "test"):
        ds = PbeStyleDataset(state, "dataset/open-images")
        for i in range(len(ds)):
            item = ds[i]
            assert np.array_equal(item["pil"], item["cv2"])                      # same pixels, same orientation
            assert item["reference"].size and min(item["grown"]) >= 0
            read += 1
    assert read == len(glob.glob(f"{to}/bbox/*/*.txt")) == len({json.loads(s["json"])["image_key"]
                                                                 for s in samples.values()})


def test_card_says_how_to_train_and_the_licences(exported, tmp_path):
    out, to, _, _ = exported
    text = open(os.path.join(to, "README.md"), encoding="utf-8").read()
    head = yaml.safe_load(text[4:].split("\n---\n", 1)[0])
    assert "cc0-1.0" in head["license"]
    assert "dataset/open-images" in text and "dataset_dir" in text and "main.py" in text
    assert "Sources and licences" in text and 'load_dataset("DIR", drop_labels=True)' in text
    datasets = pytest.importorskip("datasets")
    ds = datasets.load_dataset(to, drop_labels=True, cache_dir=str(tmp_path / "hf"))
    assert {s: len(v) for s, v in ds.items()} == {
        s: len(glob.glob(f"{to}/images/{pattern}/*.jpg"))
        for s, pattern in (("train", "train_*"), ("validation", "validation"), ("test", "test"))}


def test_refusals_name_the_output_and_what_to_do(exported, demo_build, tmp_path, capsys):
    out, to, _, _ = exported
    pipe_out = demo_build[0]
    assert cli.main(["export", pipe_out, "--format", "paint_by_example", "--to", str(tmp_path / "a")]) == 2
    err = capsys.readouterr().err
    assert f"{pipe_out} holds pipe samples: --format paint_by_example exports Paint by Example triplets" in err
    assert "export it with --format pipe" in err and not os.path.exists(tmp_path / "a")
    assert cli.main(["export", out, "--format", "paint_by_example", "--to", to]) == 2
    assert f"--to {to}: not an empty folder" in capsys.readouterr().err
    (tmp_path / "file").write_text("x")
    assert cli.main(["export", out, "--format", "paint_by_example", "--to", str(tmp_path / "file")]) == 2
    assert "not an empty folder" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="writes to a local folder"):
        export_pbe(out, "s3://bucket/pbe")
    assert cli.main(["export", out, "--format", "paint_by_example", "--to", str(tmp_path / "b"), "--with-masks"]) == 2
    assert "--with-masks: a PIPE export option" in capsys.readouterr().err
    assert cli.main(["export", out, "--format", "paint_by_example", "--to", str(tmp_path / "b"),
                     "--test-images", "1000"]) == 2
    assert "leaves no training image" in capsys.readouterr().err and not os.path.exists(tmp_path / "b")


def test_pipe_export_refuses_and_accepts_as_before(exported, demo_build, tmp_path, capsys):
    out = exported[0]
    assert cli.main(["export", out, "--to", str(tmp_path / "p")]) == 2
    assert capsys.readouterr().err == (
        f"inpaint-pairs: error: {out} holds paint_by_example samples: --format pipe exports PIPE-format pairs "
        f"(output.format pipe); read paint_by_example shards directly (see the card, {out}/README.md)\n")
    default, named = str(tmp_path / "default"), str(tmp_path / "named")
    assert cli.main(["export", demo_build[0], "--to", default]) == 0
    assert cli.main(["export", demo_build[0], "--format", "pipe", "--to", named]) == 0
    printed = capsys.readouterr().out
    assert "export: train:" in printed and "test split: 1 whole source image(s)" in printed
    parquet = lambda root: {os.path.relpath(p, root): open(p, "rb").read()  # noqa: E731
                            for p in glob.glob(f"{root}/data/*.parquet")}
    assert parquet(default) == parquet(named) and parquet(default)


def test_held_out_takes_validation_after_test_and_leaves_training_images():
    images = {("d", str(i)) for i in range(10)}
    test, validation = held_out(images, None, 3)
    assert len(test) == len(validation) == 3 and not test & validation
    assert held_out(images, 0.0, None) == (set(), set())
    assert held_out(images, 0.01, None)[0] and len(held_out(images, 0.01, None)[1]) == 1
    with pytest.raises(ConfigError, match="validation split of as many leave no training image"):
        held_out(images, None, 5)


def test_box_line_is_pbes_line_and_a_box_outside_is_refused():
    assert box_line("k", [0, 1, 64, 48], (64, 48)) == "0 1 64 48\n"
    for bad in ([0, 0, 65, 10], [-1, 0, 5, 5], [5, 5, 5, 9], [0, 0, 10]):
        with pytest.raises(ConfigError, match="triplet k: box"):
            box_line("k", bad, (64, 48))


def test_held_out_is_stable():
    images = {("oi", f"{i:016x}") for i in range(50)}
    assert held_out(images, 0.1, None) == held_out(set(sorted(images, reverse=True)), 0.1, None)
    assert math.ceil(0.1 * 50) == len(held_out(images, 0.1, None)[0])
