"""A hand-built ICC v2 matrix/TRC display profile (no .icc file ships on this machine): Adobe RGB (1998)
primaries adapted to D50 and a 563/256 gamma, the numbers of its specification."""
from __future__ import annotations

import struct

import numpy as np

D50 = (0.9642, 1.0, 0.8249)
ADOBE = {"r": (0.60974, 0.31111, 0.01947), "g": (0.20528, 0.62567, 0.06087), "b": (0.14919, 0.06322, 0.74457)}
SRGB_D50 = np.array([[0.4360747, 0.3850649, 0.1430804], [0.2225045, 0.7168786, 0.0606169],
                     [0.0139322, 0.0971045, 0.7141733]])
GAMMA = 563 / 256


def _s15(v: float) -> bytes:
    return struct.pack(">i", round(v * 65536))


def _xyz(xyz) -> bytes:
    return b"XYZ \0\0\0\0" + b"".join(_s15(v) for v in xyz)


def _desc(text: str) -> bytes:
    a = text.encode() + b"\0"
    return b"desc\0\0\0\0" + struct.pack(">I", len(a)) + a + struct.pack(">II", 0, 0) + b"\0\0\0" + b"\0" * 67


def adobe_rgb_profile() -> bytes:
    curv = b"curv\0\0\0\0" + struct.pack(">IH", 1, round(GAMMA * 256)) + b"\0\0"
    tags = [(b"desc", _desc("Adobe RGB (1998) test")), (b"cprt", b"text\0\0\0\0public domain\0"),
            (b"wtpt", _xyz(D50)), (b"rXYZ", _xyz(ADOBE["r"])), (b"gXYZ", _xyz(ADOBE["g"])),
            (b"bXYZ", _xyz(ADOBE["b"])), (b"rTRC", curv), (b"gTRC", curv), (b"bTRC", curv)]
    offset, table, body = 128 + 4 + 12 * len(tags), b"", b""
    for sig, data in tags:
        data += b"\0" * (-len(data) % 4)
        table += sig + struct.pack(">II", offset + len(body), len(data))
        body += data
    size = offset + len(body)
    head = (struct.pack(">I", size) + b"\0\0\0\0" + struct.pack(">I", 0x02100000) + b"mntrRGB XYZ "
            + struct.pack(">6H", 2026, 1, 1, 0, 0, 0) + b"acsp" + b"\0" * 24 + struct.pack(">I", 0)
            + b"".join(_s15(v) for v in D50) + b"\0" * 4)
    head += b"\0" * (128 - len(head))
    return head + struct.pack(">I", len(tags)) + table + body


def adobe_to_srgb(rgb) -> np.ndarray:
    """The colorimetric conversion computed by hand: Adobe RGB values -> sRGB values (0..255 floats)."""
    lin = (np.asarray(rgb, np.float64) / 255.0) ** GAMMA
    xyz = np.array([ADOBE["r"], ADOBE["g"], ADOBE["b"]]).T @ lin
    s = np.clip(np.linalg.solve(SRGB_D50, xyz), 0, 1)
    enc = np.where(s <= 0.0031308, 12.92 * s, 1.055 * s ** (1 / 2.4) - 0.055)
    return enc * 255.0
