"""Load stage: bytes -> HxWx3 uint8 RGB, EXIF-rotated, ICC profile converted to sRGB (recorded in
``rec.meta["colour"]``, then the pair's json), size-checked, resized by the configured policy.

Every per-image failure is a reject with a precise reason (``StageError`` carries it from the helpers);
an image the source rejected while planning is reported under stage 'read', nothing read.
"""
from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from configs.schema import ImageConfig
from transforms.core import fileio
from transforms.core.colour import to_srgb
from transforms.core.fetch import is_http, read_path, read_uri
from transforms.core.geometry import apply_resize, out_size, resize_params
from transforms.core.records import ImageRecord, Reject, StageError, reject
from transforms.sources.mask_files import read_mask_files

STAGE = "load"
PLAN_STAGE = "read"   # the funnel row of what the source rejected while planning
KEPT = "kept_download"   # ImageRecord.meta: where an earlier pass of this build kept the image's download
# Pillow's own bomb check stays on for the whole process (the report opens rejected inputs too); ours runs
# on the header before any pixel is decoded, so image.max_pixels above Pillow's hard limit (2 x
# Image.MAX_IMAGE_PIXELS, ~179 Mpx) is capped there.

# file signatures of the formats photos come in: bytes that start like one of them but do not open are a
# damaged image ('corrupt_image'), anything else is not an image at all (an HTML error page, text, ...)
_SIGNATURES = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"II*\x00", b"MM\x00*")


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
        raise StageError("too_many_pixels", f"{w}x{h} > image.max_pixels={cfg.max_pixels}")
    _, (rh, rw), _ = resize_params(h, w, cfg)
    if rh * rw > cfg.max_pixels:
        raise StageError("too_many_pixels_after_resize", f"{w}x{h} resizes to {rw}x{rh} > "
                                                        f"image.max_pixels={cfg.max_pixels}")


def decode_image(data: bytes, cfg: ImageConfig) -> np.ndarray:
    """Encoded bytes -> HxWx3 uint8 RGB (sRGB) at its own size; raises StageError with a precise reason."""
    return decode_with_colour(data, cfg)[0]


def decode_with_colour(data: bytes, cfg: ImageConfig) -> tuple[np.ndarray, dict | None]:
    """(HxWx3 uint8 sRGB at its own size, the colour record or None when no ICC profile was embedded)."""
    if not data:
        raise StageError("empty_file")
    try:
        im = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as e:
        raise StageError("too_many_pixels", str(e)[:200]) from None
    except UnidentifiedImageError:
        reason = "corrupt_image" if _looks_like_an_image(data) else "not_an_image"
        raise StageError(reason, f"{len(data)} bytes, no readable image header") from None
    except (OSError, ValueError, SyntaxError) as e:
        raise StageError("corrupt_image", str(e)[:200]) from None
    _check_pixels(*im.size, cfg)
    try:
        im.load()
        im = ImageOps.exif_transpose(im)
        im, colour = to_srgb(im)
        rgb = _to_rgb(im)
    except (OSError, ValueError, SyntaxError) as e:
        raise StageError("corrupt_image", str(e)[:200]) from None
    if min(rgb.shape[:2]) < cfg.min_side:
        raise StageError("too_small", f"{rgb.shape[1]}x{rgb.shape[0]} < image.min_side={cfg.min_side}")
    return np.ascontiguousarray(rgb), colour


def read_image_bytes(rec: ImageRecord, cfg: ImageConfig, keep_at: str = "") -> bytes:
    """The bytes of ``rec.uri``: http(s) through the bounded client, tar members, file://, paths. A download
    an earlier pass kept (``meta['kept_download']``) is read from there instead, or fetched again if it is
    gone; with ``keep_at``, a download is kept there for a later pass (a URL is fetched once per build)."""
    kept = rec.meta.pop(KEPT, "")
    if kept:
        try:
            return read_path(kept, cfg.fetch.max_bytes)
        except Exception:  # noqa: BLE001 - removed (a shard's commit, a rerun's clean-up): download it again
            pass
    data = read_uri(rec.uri, cfg.fetch)
    if keep_at and is_http(rec.uri):
        try:
            fileio.write_plain(keep_at, data)
        except OSError:   # a full disk costs the later pass a second download, not this image
            pass
    return data


def load_image(rec: ImageRecord, cfg: ImageConfig, keep_at: str = "") -> ImageRecord | Reject:
    """Read ``rec.uri`` (``read_image_bytes``) and fill ``rec.image`` (HxWx3 uint8 RGB, resized) and the
    resize parameters."""
    if rec.planned_reject is not None:
        return reject(rec, PLAN_STAGE, rec.planned_reject.reason, rec.planned_reject.detail)
    try:
        data = read_image_bytes(rec, cfg, keep_at)
        rgb, colour = decode_with_colour(data, cfg)
    except StageError as e:
        return reject(rec, STAGE, e.reason, e.detail)
    except Exception as e:  # noqa: BLE001 - any filesystem's "not there" or "cannot read"
        reason = "file_missing" if not fileio.exists(rec.uri) else "read_error"
        return reject(rec, STAGE, reason, f"{rec.uri}: {type(e).__name__}")
    if colour:
        rec.meta["colour"] = colour
    rec.orig_hw = rgb.shape[:2]
    rec.scale, resized, rec.offset = resize_params(*rec.orig_hw, cfg)
    rec.image = np.ascontiguousarray(apply_resize(rgb, resized, rec.offset, out_size(rec.orig_hw, cfg)))
    return read_mask_files(rec, cfg.fetch)  # masks the source names by file (Open Images PNGs) -> arrays
