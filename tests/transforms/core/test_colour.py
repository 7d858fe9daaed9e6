"""ICC profiles: an embedded profile is converted to sRGB on load -- checked against the
conversion computed by hand from the Adobe RGB specification -- and recorded in the pair's json; an image
without a profile is taken as sRGB, byte for byte as before."""
from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

from configs.schema import ImageConfig
from faults.kit import CocoSet, assert_accounting, build, samples
from icc import adobe_rgb_profile, adobe_to_srgb
from transforms.core.colour import to_srgb
from transforms.core.records import ImageRecord
from transforms.stages.load import load_image

COLOURS = [(20, 90, 40), (120, 100, 90), (200, 180, 160), (60, 60, 200)]


def _png(rgb, icc: bytes | None) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (80, 80), rgb).save(buf, "PNG", **({"icc_profile": icc} if icc else {}))
    return buf.getvalue()


@pytest.mark.parametrize("rgb", COLOURS)
def test_an_adobe_rgb_image_becomes_srgb_as_the_specification_computes(rgb):
    out, colour = to_srgb(Image.open(io.BytesIO(_png(rgb, adobe_rgb_profile()))))
    got = np.asarray(out.convert("RGB"))[40, 40].astype(float)
    assert np.abs(got - adobe_to_srgb(rgb)).max() <= 1.5, (got, adobe_to_srgb(rgb))
    assert colour == {"icc_profile": "Adobe RGB (1998) test", "converted_to": "sRGB"}


def test_no_profile_means_srgb_untouched_and_a_broken_profile_is_said():
    im = Image.open(io.BytesIO(_png((20, 90, 40), None)))
    assert to_srgb(im) == (im, None)
    out, colour = to_srgb(Image.open(io.BytesIO(_png((20, 90, 40), b"not a profile" * 20))))
    assert colour["converted_to"] is None and colour["icc_profile"] == "unreadable"
    assert np.asarray(out.convert("RGB"))[0, 0].tolist() == [20, 90, 40]


def test_the_load_stage_records_the_conversion(tmp_path):
    path = tmp_path / "a.png"
    path.write_bytes(_png((20, 90, 40), adobe_rgb_profile()))
    rec = load_image(ImageRecord("k-1", 0, str(path), "1"), ImageConfig(size=64, resize="none"))
    assert rec.image[10, 10].tolist() == np.round(adobe_to_srgb((20, 90, 40))).astype(int).tolist()
    assert rec.meta["colour"]["converted_to"] == "sRGB"


def test_a_build_writes_the_colour_record_into_the_pair_json_only_where_a_profile_was(tmp_path):
    coco = CocoSet(tmp_path / "in")
    tagged = coco.add(_png((120, 100, 90), adobe_rgb_profile()), "tagged.png", size=(80, 80))
    plain = coco.add(_png((120, 100, 90), None), "plain.png", size=(80, 80))
    out = str(tmp_path / "out")
    report = build(coco, out, "image.min_side=16")
    assert_accounting(out, report)
    metas = {json.loads(s["json"])["source"]["image_id"]: json.loads(s["json"]) for s in samples(out).values()}
    assert metas[str(tagged)]["colour"] == {"icc_profile": "Adobe RGB (1998) test", "converted_to": "sRGB"}
    assert "colour" not in metas[str(plain)]
