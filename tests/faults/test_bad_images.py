"""Bad image files, all in one end-to-end build: each ends as a written pair or a load reject with a
precise reason, and a pair shows the object (red) under its mask whatever the file's mode or orientation."""
from __future__ import annotations

import io
import os
import struct
import zlib

import cv2
import numpy as np
import pytest
from PIL import Image

from faults.kit import DISC, GREEN, H, RED, SIZE, W, CocoSet, assert_accounting, build, encode, image_key, \
    outcomes, reject_rows, samples, scene

WHITE = (255, 255, 255)


def _flip(data: bytes, at: float, n: int = 40) -> bytes:
    b = bytearray(data)
    i = int(len(b) * at)
    b[i: i + n] = bytes(x ^ 0x55 for x in b[i: i + n])
    return bytes(b)


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png_header_only(w: int, h: int) -> bytes:
    """A PNG whose header claims w x h 8-bit grey pixels (a decompression bomb's header; tiny file)."""
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", zlib.compress(b"\0" * 4096))
            + _png_chunk(b"IEND", b""))


def _grey(rgb: np.ndarray) -> np.ndarray:
    return np.asarray(Image.fromarray(rgb).convert("L"))


def _alpha_scene() -> Image.Image:
    """RGBA: the red disc opaque on a fully transparent (black) field -> composited on white."""
    rgb = scene()
    alpha = np.where((rgb == RED).all(axis=2), 255, 0).astype(np.uint8)
    rgb[alpha == 0] = 0
    return Image.fromarray(np.dstack([rgb, alpha]), "RGBA")


def _palette_transparent() -> Image.Image:
    im = Image.fromarray(scene()).quantize(2)
    pal = im.getpalette()[:6]
    bg = 0 if tuple(pal[:3]) == GREEN else 1
    im.info["transparency"] = bg
    return im


def _sixteen_rgb() -> bytes:
    bgr16 = cv2.cvtColor(scene(), cv2.COLOR_RGB2BGR).astype(np.uint16) * 257
    return cv2.imencode(".png", bgr16)[1].tobytes()


def _grey16() -> bytes:
    return encode(Image.fromarray(_grey(scene()).astype(np.uint16) * 257), "PNG")


def _text_chunk_bomb() -> bytes:
    """A valid PNG carrying a zTXt chunk that inflates to 64 MB (Pillow refuses text this large)."""
    png = encode(scene(), "PNG")
    body = b"Comment\0\0" + zlib.compress(b"\0" * (64 << 20), 9)
    return png[:33] + _png_chunk(b"zTXt", body) + png[33:]  # right after the header


def _grey_rgb(colour) -> tuple:
    g = int(_grey(np.array([[colour]], np.uint8))[0, 0])
    return (g, g, g)


JPG, PNG = encode(scene()), encode(scene(), "PNG")
GOOD = {  # name -> (file name, bytes, colour expected on the object, colour expected around it)
    "png_named_jpg": ("png.jpg", PNG, RED, GREEN),
    "jpeg_named_png": ("jpeg.png", JPG, RED, GREEN),
    "no_extension": ("noext", JPG, RED, GREEN),
    "cmyk_jpeg": ("cmyk.jpg", encode(Image.fromarray(scene()).convert("CMYK")), RED, GREEN),
    "cmyk_tiff": ("cmyk.tif", encode(Image.fromarray(scene()).convert("CMYK"), "TIFF"), RED, GREEN),
    "grey_jpeg": ("grey.jpg", encode(Image.fromarray(_grey(scene()))), _grey_rgb(RED), _grey_rgb(GREEN)),
    "grey16_png": ("grey16.png", _grey16(), _grey_rgb(RED), _grey_rgb(GREEN)),
    "rgb16_png": ("rgb16.png", _sixteen_rgb(), RED, GREEN),
    "palette_png": ("pal.png", encode(Image.fromarray(scene()).quantize(2), "PNG"), RED, GREEN),
    "palette_transparent_png": ("palt.png", encode(_palette_transparent(), "PNG"), RED, WHITE),
    "rgba_png": ("rgba.png", encode(_alpha_scene(), "PNG"), RED, WHITE),
    "grey_alpha_png": ("la.png", encode(_alpha_scene().convert("LA"), "PNG"), _grey_rgb(RED), WHITE),
    "bilevel_png": ("one.png", encode(Image.fromarray(_grey(scene()) > 90), "PNG"), WHITE, (0, 0, 0)),
    "gif": ("a.gif", encode(Image.fromarray(scene()).quantize(2), "GIF"), RED, GREEN),
    "webp_lossless": ("a.webp", encode(scene(), "WEBP", lossless=True), RED, GREEN),
    "bmp": ("a.bmp", encode(scene(), "BMP"), RED, GREEN),
    "broken_exif": ("bexif.jpg", None, RED, GREEN),  # filled below
}
GARBLED = {  # decodes, with damaged 8x8 blocks: libjpeg resyncs past bad entropy data and Pillow cannot tell
    "corrupt_jpeg_scan": ("scan.jpg", _flip(JPG, 0.6)),
}
BAD = {  # name -> (file name, bytes or None for no file, expected 'stage/reason')
    "zero_byte_jpeg": ("zero.jpg", b"", "load/empty_file"),
    "truncated_jpeg": ("trunc.jpg", JPG[: len(JPG) // 2], "load/corrupt_image"),
    "truncated_png": ("trunc.png", PNG[: len(PNG) // 2], "load/corrupt_image"),
    "jpeg_cut_in_header": ("head.jpg", JPG[:120], "load/corrupt_image"),
    "corrupt_jpeg_tables": ("tables.jpg", _flip(JPG, 0.1), "load/corrupt_image"),
    "corrupt_png_data": ("data.png", _flip(PNG, 0.5), "load/corrupt_image"),
    "corrupt_png_header": ("ihdr.png", PNG[:20] + bytes([PNG[20] ^ 1]) + PNG[21:], "load/corrupt_image"),
    "html_named_jpg": ("page.jpg", b"<!doctype html><html><body>404 Not Found</body></html>", "load/not_an_image"),
    "text_file": ("notes.jpg", b"just some text\n" * 50, "load/not_an_image"),
    "decompression_bomb": ("bomb.png", _png_header_only(60000, 60000), "load/too_many_pixels"),
    "zero_width_png": ("zerow.png", _png_header_only(0, 100), "load/corrupt_image"),
    "png_text_chunk_bomb": ("ztxt.png", _text_chunk_bomb(), "load/corrupt_image"),
    "below_min_side": ("small.png", encode(scene(40, 60, (30, 20, 10)), "PNG"), "load/too_small"),
    "thin_strip_upscale_bomb": ("strip.png", encode(np.zeros((64, 40000, 3), np.uint8), "PNG"),
                                "load/too_many_pixels_after_resize"),
    "folder_named_like_an_image": ("folder.jpg", None, "load/read_error"),
}
EXIF_TO_STORED = {  # orientation -> the transpose that turns the displayed picture into the stored pixels
    1: None, 2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_90,
    7: Image.Transpose.TRANSVERSE, 8: Image.Transpose.ROTATE_270,
}


def _exif_jpeg(orientation: int, broken: bool = False) -> bytes:
    """The scene as it should display, stored rotated/flipped with the EXIF tag that undoes it."""
    shown = Image.fromarray(scene())
    op = EXIF_TO_STORED[orientation]
    stored = shown.transpose(op) if op is not None else shown
    exif = stored.getexif()
    exif[0x0112] = orientation
    data = encode(stored, exif=exif)
    if broken:  # garbage where the EXIF TIFF header should be: unreadable metadata, intact pixels
        i = data.index(b"Exif\0\0") + 6
        data = data[:i] + b"\xff" * 8 + data[i + 8:]
    return data


@pytest.fixture(scope="module")
def bad_images_build(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad_images")
    coco, ids = CocoSet(root / "in"), {}
    good = dict(GOOD, broken_exif=("bexif.jpg", _exif_jpeg(1, broken=True), RED, GREEN))
    for name, (file_name, data, *_) in good.items():
        ids[name] = coco.add(data, file_name)
    for o in EXIF_TO_STORED:
        ids[f"exif_{o}"] = coco.add(_exif_jpeg(o), f"exif{o}.jpg")
    for name, (file_name, data) in GARBLED.items():
        ids[name] = coco.add(data, file_name)
    for name, (file_name, data, _) in BAD.items():
        ids[name] = coco.add(data, file_name)
    os.makedirs(os.path.join(coco.images_dir, "folder.jpg"))
    out = str(root / "out")
    # the strip is 2.6 Mpx (allowed) but its short side to 128 px would make it 10 Mpx
    report = build(coco, out, "image.max_pixels=4000000")
    return out, report, ids


def test_accounting_holds(bad_images_build):
    out, report, ids = bad_images_build
    assert_accounting(out, report)
    assert report["images_in"] == len(ids)


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_file_is_a_load_reject_with_a_precise_reason(bad_images_build, name):
    out, _, ids = bad_images_build
    assert outcomes(out).get(image_key(ids[name])) == BAD[name][2]


def _pair_of(out: str, image_id) -> dict:
    key = f"{image_key(image_id)}-{image_id * 100}"
    got = outcomes(out).get(key) or outcomes(out).get(image_key(image_id))
    assert got == "pair", f"{key}: {got}"
    return samples(out)[key]


def _assert_object_under_mask(sample: dict, inside, outside, tol: float = 30) -> None:
    target = np.asarray(Image.open(io.BytesIO(sample["target.jpg"])).convert("RGB")).astype(float)
    mask = np.asarray(Image.open(io.BytesIO(sample["mask.png"]))) > 0
    assert target.shape == (SIZE, SIZE, 3) and mask.shape == (SIZE, SIZE)
    r = DISC[2] * SIZE / H
    assert abs(mask.sum() - np.pi * r * r) < 0.15 * np.pi * r * r
    core = cv2.erode(mask.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    far = cv2.dilate(mask.astype(np.uint8), np.ones((9, 9), np.uint8)) == 0
    assert np.abs(target[core].mean(axis=0) - inside).max() < tol, target[core].mean(axis=0)
    assert np.abs(target[far].mean(axis=0) - outside).max() < tol, target[far].mean(axis=0)


@pytest.mark.parametrize("name", sorted(GOOD))
def test_unusual_but_valid_file_becomes_a_pair_with_the_object_under_its_mask(bad_images_build, name):
    out, _, ids = bad_images_build
    _, _, inside, outside = GOOD[name]
    _assert_object_under_mask(_pair_of(out, ids[name]), inside, outside)


@pytest.mark.parametrize("name", sorted(GARBLED))
def test_jpeg_with_damaged_entropy_data_is_written_as_decoded(bad_images_build, name):
    out, _, ids = bad_images_build
    _pair_of(out, ids[name])


@pytest.mark.parametrize("orientation", sorted(EXIF_TO_STORED))
def test_exif_orientation_puts_the_object_where_the_annotation_says(bad_images_build, orientation):
    out, _, ids = bad_images_build
    sample = _pair_of(out, ids[f"exif_{orientation}"])
    _assert_object_under_mask(sample, RED, GREEN)
    assert json_of(sample)["orig_size_hw"] == [H, W]


def json_of(sample: dict) -> dict:
    import json
    return json.loads(sample["json"])


class _Decoded(BaseException):
    """Raised by the probe below; a BaseException so no 'except Exception' in the code under test hides it."""


def test_the_report_never_decodes_a_rejected_bomb(bad_images_build, monkeypatch):
    """rejects.html shows rejected inputs (pipelines/report/gallery.py opens them with Pillow): Pillow's own bomb
    limit must still be on in the process, so a bomb that load rejected is refused there too."""
    from PIL import ImageFile
    from pipelines.report import gallery
    out, _, ids = bad_images_build
    row = next(r for r in reject_rows(out) if r["key"] == image_key(ids["decompression_bomb"]))
    real_load = ImageFile.ImageFile.load

    def probe(im):
        if im.size[0] * im.size[1] > 10_000_000:
            raise _Decoded(f"decoding {im.size}")
        return real_load(im)
    monkeypatch.setattr(ImageFile.ImageFile, "load", probe)
    gallery.reject_picture(out, row, {})
