"""Load stage: bytes -> HxWx3 uint8 RGB, EXIF-rotated, size-checked, resized by the configured policy."""
from __future__ import annotations

import io

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from configs.schema import ImageConfig
from transforms import fileio
from transforms.fetch import FetchError, read_uri
from transforms.mask_files import read_mask_files
from transforms.record import ImageRecord, Reject, reject_image
from transforms.sources import planned_reject

STAGE = "load"
# Pillow's own bomb check stays on for the whole process (the report opens rejected inputs too); ours runs
# on the header before any pixel is decoded, so image.max_pixels above Pillow's hard limit (2 x
# Image.MAX_IMAGE_PIXELS, ~179 Mpx) is capped there.

# file signatures of the formats photos come in: bytes that start like one of them but do not open are a
# damaged image ('corrupt_image'), anything else is not an image at all (an HTML error page, text, ...)
_SIGNATURES = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"II*\x00", b"MM\x00*")


class LoadError(Exception):
    """A per-image failure; ``reason`` is the reject reason."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail = reason, detail


def _to_rgb(im: Image.Image) -> np.ndarray:
    """Any Pillow mode -> HxWx3 uint8 RGB (16-bit scaled down, alpha composited on white)."""
    if im.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        a = np.asarray(im, dtype=np.float64)
        top = 65535.0 if im.mode.startswith("I;16") or a.max() > 255 else 255.0
        a = np.clip(a / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return np.repeat(a[:, :, None], 3, axis=2)
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.asarray(Image.alpha_composite(white, rgba).convert("RGB"))
    return np.asarray(im.convert("RGB"))


def _looks_like_an_image(data: bytes) -> bool:
    return data.startswith(_SIGNATURES) or (data[:4] == b"RIFF" and data[8:12] == b"WEBP")


def _check_pixels(w: int, h: int, cfg: ImageConfig) -> None:
    """Refuse, from the header alone, an image too big to decode or one its resize would blow up (a thin
    strip whose short side is scaled up to ``image.size`` grows its long side by the same factor)."""
    if w * h > cfg.max_pixels:
        raise LoadError("too_many_pixels", f"{w}x{h} > image.max_pixels={cfg.max_pixels}")
    _, (rh, rw), _ = resize_params(h, w, cfg)
    if rh * rw > cfg.max_pixels:
        raise LoadError("too_many_pixels_after_resize", f"{w}x{h} resizes to {rw}x{rh} > "
                                                        f"image.max_pixels={cfg.max_pixels}")


def decode_image(data: bytes, cfg: ImageConfig) -> np.ndarray:
    """Encoded bytes -> HxWx3 uint8 RGB at its own size; raises LoadError with a precise reason."""
    if not data:
        raise LoadError("empty_file")
    try:
        im = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as e:
        raise LoadError("too_many_pixels", str(e)[:200]) from None
    except UnidentifiedImageError:
        reason = "corrupt_image" if _looks_like_an_image(data) else "not_an_image"
        raise LoadError(reason, f"{len(data)} bytes, no readable image header") from None
    except (OSError, ValueError, SyntaxError) as e:
        raise LoadError("corrupt_image", str(e)[:200]) from None
    _check_pixels(*im.size, cfg)
    try:
        im.load()
        im = ImageOps.exif_transpose(im)
        rgb = _to_rgb(im)
    except (OSError, ValueError, SyntaxError) as e:
        raise LoadError("corrupt_image", str(e)[:200]) from None
    if min(rgb.shape[:2]) < cfg.min_side:
        raise LoadError("too_small", f"{rgb.shape[1]}x{rgb.shape[0]} < image.min_side={cfg.min_side}")
    return np.ascontiguousarray(rgb)


def resize_params(h: int, w: int, cfg: ImageConfig) -> tuple[float, tuple[int, int], tuple[int, int]]:
    """(scale, resized (h, w), crop offset (y0, x0)) for the policy; crop size is (size, size)."""
    if cfg.resize == "none":
        return 1.0, (h, w), (0, 0)
    scale = cfg.size / min(h, w)
    rh, rw = max(cfg.size, round(h * scale)), max(cfg.size, round(w * scale))
    if cfg.resize == "short_side":
        return scale, (rh, rw), (0, 0)
    return scale, (rh, rw), ((rh - cfg.size) // 2, (rw - cfg.size) // 2)


def apply_resize(a: np.ndarray, resized_hw: tuple[int, int], offset: tuple[int, int], out_hw: tuple[int, int],
                 nearest: bool = False) -> np.ndarray:
    """Resize ``a`` (image or uint8 mask) to ``resized_hw`` then crop ``out_hw`` at ``offset``."""
    h, w = a.shape[:2]
    if (h, w) != resized_hw:
        if nearest:
            interp = cv2.INTER_NEAREST
        else:
            interp = cv2.INTER_AREA if resized_hw[0] < h else cv2.INTER_CUBIC
        a = cv2.resize(a, (resized_hw[1], resized_hw[0]), interpolation=interp)
    y0, x0 = offset
    return a[y0: y0 + out_hw[0], x0: x0 + out_hw[1]]


def out_size(rec: ImageRecord, cfg: ImageConfig) -> tuple[int, int]:
    _, resized, _ = resize_params(*rec.orig_hw, cfg)
    return (cfg.size, cfg.size) if cfg.resize == "short_side_crop" else resized


def load_image(rec: ImageRecord, cfg: ImageConfig) -> ImageRecord | Reject:
    """Read ``rec.uri`` and fill ``rec.image`` (HxWx3 uint8 RGB, resized) and the resize parameters."""
    planned = planned_reject(rec)
    if planned is not None:
        return planned
    try:
        data = read_uri(rec.uri, cfg.fetch)  # http(s) through the bounded client, tar members, file://, paths
    except FetchError as e:
        return reject_image(rec, STAGE, e.reason, e.detail)
    except Exception as e:  # noqa: BLE001 - any filesystem's "not there" or "cannot read"
        reason = "file_missing" if not fileio.exists(rec.uri) else "read_error"
        return reject_image(rec, STAGE, reason, f"{rec.uri}: {type(e).__name__}")
    try:
        rgb = decode_image(data, cfg)
    except LoadError as e:
        return reject_image(rec, STAGE, e.reason, e.detail)
    rec.orig_hw = rgb.shape[:2]
    rec.scale, resized, rec.offset = resize_params(*rec.orig_hw, cfg)
    rec.image = np.ascontiguousarray(apply_resize(rgb, resized, rec.offset, out_size(rec, cfg)))
    return read_mask_files(rec, cfg.fetch)  # masks the source names by file (Open Images PNGs) -> arrays
