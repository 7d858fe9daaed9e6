"""Image bytes in and out: encoding outputs (cv2), and the small Pillow views that galleries show.

Arrays are HxWx3 uint8 RGB images and HxW bool masks; views are Pillow images that fit a ``side`` box.
"""
from __future__ import annotations

import base64
import io

import cv2
import numpy as np
from PIL import Image

SIDE = 144
TINT = (255, 0, 80)


def encode_image(rgb: np.ndarray, fmt: str, quality: int) -> bytes:
    """HxWx3 uint8 RGB -> jpg or png bytes."""
    bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    # 4:4:4 chroma: 8x8 blocks in every channel, so pixels away from an edit decode exactly as before it
    params = ([cv2.IMWRITE_JPEG_QUALITY, quality,
               cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444] if fmt == "jpg" else [])
    ok, buf = cv2.imencode("." + fmt, bgr, params)
    if not ok:
        raise ValueError(f"could not encode a {rgb.shape} image as {fmt}")
    return buf.tobytes()


def encode_mask(mask: np.ndarray) -> bytes:
    """HxW bool -> single-channel png with values 0 and 255."""
    ok, buf = cv2.imencode(".png", mask.view(np.uint8) * np.uint8(255))
    if not ok:
        raise ValueError("could not encode mask")
    return buf.tobytes()


def thumbnail(data: bytes, side: int = SIDE, mode: str = "RGB") -> Image.Image:
    im = Image.open(io.BytesIO(data))
    im.draft(mode, (side, side))  # JPEG: decode at a reduced scale, much faster for big images
    im = im.convert(mode)
    im.thumbnail((side, side))
    return im


def overlay(image: Image.Image, mask: Image.Image, alpha: float = 0.5) -> Image.Image:
    """``image`` (RGB) tinted where ``mask`` (L, any size: resized to the image) is set."""
    mask = mask.convert("L").resize(image.size, Image.Resampling.NEAREST)
    tinted = Image.blend(image, Image.new("RGB", image.size, TINT), alpha)
    return Image.composite(tinted, image, mask)


def data_uri(im: Image.Image, quality: int = 70) -> str:
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=quality)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode()


def member(sample: dict, stem: str) -> bytes | None:
    """The bytes of ``stem`` ('source', 'target', 'mask') whatever the image extension (jpg or png)."""
    for name, value in sample.items():
        if name.split(".")[0] == stem and name != stem and isinstance(value, (bytes, bytearray)):
            return value
    return None
