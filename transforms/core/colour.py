"""Colour management on load: an image with an embedded ICC profile is converted to sRGB (Pillow's ImageCms,
perceptual intent); an image without one is taken as sRGB, as browsers and training code do.

``to_srgb`` returns the converted Pillow image and what the pair's json records under ``colour``:
``{"icc_profile": <profile description>, "converted_to": "sRGB"}``, or ``"converted_to": null`` with an
``error`` when the profile is unreadable (the pixels are then used as they are, and the json says so).
"""
from __future__ import annotations

import io

from PIL import Image, ImageCms

_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
_CONVERTIBLE = {"RGB": "RGB", "RGBA": "RGBA", "CMYK": "RGB", "L": "RGB", "LA": "RGBA"}


def to_srgb(im: Image.Image) -> tuple[Image.Image, dict | None]:
    """(image in sRGB, the ``colour`` record) for a decoded image; (im, None) when it carries no profile."""
    icc = im.info.get("icc_profile")
    if not icc:
        return im, None
    try:
        src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        name = (ImageCms.getProfileDescription(src) or "").strip()[:120]
    except (ImageCms.PyCMSError, OSError, TypeError, ValueError) as e:
        return im, {"icc_profile": "unreadable", "converted_to": None, "error": str(e)[:120]}
    out_mode = _CONVERTIBLE.get(im.mode)
    if out_mode is None:
        return im, {"icc_profile": name, "converted_to": None, "error": f"mode {im.mode} not converted"}
    try:
        if im.mode == "LA":
            im = im.convert("RGBA")
        converted = ImageCms.profileToProfile(im, src, _SRGB, outputMode=out_mode,
                                              renderingIntent=ImageCms.Intent.PERCEPTUAL)
    except (ImageCms.PyCMSError, OSError, ValueError) as e:
        return im, {"icc_profile": name, "converted_to": None, "error": str(e)[:120]}
    converted.info.pop("icc_profile", None)
    return converted, {"icc_profile": name, "converted_to": "sRGB"}
