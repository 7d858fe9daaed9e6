"""Decoding object masks as COCO/LVIS give them (and encoding one as COCO RLE): polygons, uncompressed RLE, compressed RLE, or arrays.

pycocotools does the rasterising and decoding; the checks before it keep malformed input from costing
minutes (huge or NaN polygon coordinates) or giving random masks (RLE runs that do not cover the frame).
Every failure is a ``StageError`` whose reason is the reject reason. Masks come back as HxW bool.
"""
from __future__ import annotations

import math

import numpy as np
from pycocotools import mask as mask_utils

from transforms.core.records import StageError


def decode_segmentation(seg, h: int, w: int) -> np.ndarray:
    """COCO segmentation (polygons, RLE, compressed RLE, or an HxW array) -> HxW bool in an h x w frame."""
    if isinstance(seg, np.ndarray):
        if seg.shape != (h, w):
            raise StageError("mask_size_mismatch", f"mask {seg.shape} vs image {(h, w)}")
        return seg.astype(bool)
    if isinstance(seg, list):
        return _decode_polygons(seg, h, w)
    if isinstance(seg, dict) and "counts" in seg and "size" in seg:
        return _decode_rle(seg, h, w)
    raise StageError("bad_segmentation", f"unsupported segmentation of type {type(seg).__name__}")


def coco_rle(mask: np.ndarray) -> dict:
    """HxW bool -> COCO compressed RLE with a str ``counts`` (JSON-able; ``decode_segmentation`` reads it)."""
    rle = mask_utils.encode(np.asfortranarray(mask.view(np.uint8)))
    return {"size": [int(v) for v in rle["size"]], "counts": rle["counts"].decode("ascii")}


def _polygon_coords(seg: list) -> list[list[float]]:
    """The polygons of at least 3 points, as floats; raises on non-numeric or non-finite coordinates."""
    polys = [p for p in seg if isinstance(p, list) and len(p) >= 6 and len(p) % 2 == 0]
    if not polys:
        raise StageError("bad_segmentation", "no polygon with at least 3 points")
    try:
        polys = [[float(v) for v in p] for p in polys]
    except (TypeError, ValueError) as e:
        raise StageError("bad_segmentation", str(e)[:200]) from None
    if not all(math.isfinite(v) for p in polys for v in p):
        raise StageError("bad_segmentation", "a polygon coordinate is NaN or infinite")
    return polys


def _decode_polygons(seg: list, h: int, w: int) -> np.ndarray:
    """Polygons in pixel coordinates -> HxW bool. The rasteriser's time grows with the outline's length
    (coordinates of 1e8 take ~25 s, NaN exhausts memory), so coordinates are checked before it runs."""
    polys = _polygon_coords(seg)
    xs, ys = [v for p in polys for v in p[0::2]], [v for p in polys for v in p[1::2]]
    where = f"x {min(xs):g}..{max(xs):g}, y {min(ys):g}..{max(ys):g} in a {w}x{h} image"
    if max(xs) <= 0 or min(xs) >= w or max(ys) <= 0 or min(ys) >= h:
        raise StageError("outside_image", where)
    if min(xs) < -w or max(xs) > 2 * w or min(ys) < -h or max(ys) > 2 * h:
        raise StageError("polygon_out_of_range", where)
    return mask_utils.decode(mask_utils.merge(mask_utils.frPyObjects(polys, h, w))).astype(bool)


def _decode_counts(s: bytes) -> list[int]:
    """pycocotools' compressed RLE counts (its rleFrString): 5 bits a character from '0', a continuation
    bit, sign-extended, runs from the third on coded as the difference to the run two before."""
    runs: list[int] = []
    p = 0
    while p < len(s):
        x, k, more = 0, 0, True
        while more:
            if p >= len(s) or not 48 <= s[p] < 112 or k > 7:
                raise StageError("bad_rle", f"compressed counts malformed at character {p}")
            c = s[p] - 48
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p, k = p + 1, k + 1
            if not more and c & 0x10:
                x |= -1 << (5 * k)
        runs.append(x + runs[-2] if len(runs) > 2 else x)
    return runs


def rle_runs(counts) -> list[int]:
    """Run lengths of COCO RLE counts (a list of ints, or the compressed string); raises if malformed."""
    if isinstance(counts, str):
        counts = counts.encode()
    runs = _decode_counts(counts) if isinstance(counts, bytes) else counts
    if not isinstance(runs, list) or not all(type(r) is int and r >= 0 for r in runs):
        raise StageError("bad_rle", "counts must be non-negative integers or a compressed string")
    return runs


def _decode_rle(seg: dict, h: int, w: int) -> np.ndarray:
    """RLE -> HxW bool, once its runs are known to cover the frame exactly: pycocotools trusts them and
    fills a short RLE's tail from uninitialised memory (a different mask on every run)."""
    size = seg["size"]
    if not isinstance(size, (list, tuple)) or list(size) != [h, w]:
        raise StageError("mask_size_mismatch", f"RLE size {size!r} vs image {[h, w]}")
    runs = rle_runs(seg["counts"])
    if sum(runs) != h * w:
        raise StageError("bad_rle", f"runs cover {sum(runs)} pixels, the {w}x{h} image has {h * w}")
    counts = seg["counts"]
    if isinstance(counts, list):
        return mask_utils.decode(mask_utils.frPyObjects({"size": [h, w], "counts": counts}, h, w)).astype(bool)
    counts = counts.encode() if isinstance(counts, str) else counts
    return mask_utils.decode({"size": [h, w], "counts": counts}).astype(bool)
