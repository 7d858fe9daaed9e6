import io

import numpy as np
import pytest
from PIL import Image

from configs.schema import ImageConfig
from transforms.core.geometry import resize_params
from transforms.core.records import StageError as LoadError
from transforms.stages.load import decode_image, load_image
from transforms.core.records import ImageRecord, Reject


def _png(im: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "PNG", **kw)
    return buf.getvalue()


def test_decode_gives_hwc_uint8_rgb_from_grey_palette_alpha_and_16bit():
    cfg = ImageConfig()
    grey = Image.fromarray(np.full((80, 100), 77, np.uint8))
    out = decode_image(_png(grey), cfg)
    assert out.shape == (80, 100, 3) and out.dtype == np.uint8 and (out == 77).all()
    rgba = Image.new("RGBA", (100, 80), (10, 20, 30, 0))  # fully transparent -> white
    assert (decode_image(_png(rgba), cfg) == 255).all()
    sixteen = Image.fromarray(np.full((80, 100), 65535, np.uint16))
    assert (decode_image(_png(sixteen), cfg) == 255).all()
    pal = Image.new("P", (100, 80), 3)
    pal.putpalette([0, 0, 0] * 3 + [200, 100, 50] + [0, 0, 0] * 252)
    assert tuple(decode_image(_png(pal), cfg)[0, 0]) == (200, 100, 50)


def test_exif_orientation_is_applied():
    im = Image.new("RGB", (120, 80), (0, 0, 0))
    im.paste((255, 0, 0), (0, 0, 10, 80))  # red stripe on the left
    exif = im.getexif()
    exif[0x0112] = 6  # rotate 90 CW to display
    buf = io.BytesIO()
    im.save(buf, "JPEG", exif=exif, quality=95)
    out = decode_image(buf.getvalue(), ImageConfig())
    assert out.shape[:2] == (120, 80)
    assert out[:10, :, 0].mean() > 200  # the stripe is now along the top


@pytest.mark.parametrize("data, reason", [
    (b"", "empty_file"),
    (b"<html>not an image</html>", "not_an_image"),
])
def test_undecodable_bytes_have_precise_reasons(data, reason):
    with pytest.raises(LoadError) as e:
        decode_image(data, ImageConfig())
    assert e.value.reason == reason


def test_truncated_small_and_huge_images_are_refused():
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (200, 200, 3), np.uint8)).save(buf, "JPEG")
    with pytest.raises(LoadError) as e:
        decode_image(buf.getvalue()[:600], ImageConfig())
    assert e.value.reason == "corrupt_image"
    with pytest.raises(LoadError) as e:
        decode_image(_png(Image.new("RGB", (50, 300))), ImageConfig(min_side=64))
    assert e.value.reason == "too_small"
    with pytest.raises(LoadError) as e:
        decode_image(_png(Image.new("RGB", (300, 300))), ImageConfig(max_pixels=300 * 299))
    assert e.value.reason == "too_many_pixels"


def test_resize_policy_short_side_then_centre_crop():
    cfg = ImageConfig(size=512)
    scale, resized, offset = resize_params(400, 600, cfg)
    assert resized == (512, 768) and offset == (0, 128) and scale == pytest.approx(1.28)
    assert resize_params(400, 600, ImageConfig(resize="none")) == (1.0, (400, 600), (0, 0))


def test_load_image_missing_file_is_a_reject(tmp_path):
    rec = ImageRecord(key="k", shard=0, uri=str(tmp_path / "nope.jpg"), source_id="1")
    out = load_image(rec, ImageConfig())
    assert isinstance(out, Reject) and out.reason == "file_missing" and out.level == "image"


def test_load_image_fills_the_resized_image(tmp_path):
    path = tmp_path / "a.png"
    Image.new("RGB", (600, 400), (1, 2, 3)).save(path)
    rec = load_image(ImageRecord(key="k", shard=0, uri=str(path), source_id="1"), ImageConfig(size=256))
    assert rec.image.shape == (256, 256, 3) and rec.orig_hw == (400, 600)
    assert tuple(rec.image[100, 100]) == (1, 2, 3)
