"""Random brush masks (BrushNet's recipe) as a masker: deterministic per key, within the configured shape."""
from __future__ import annotations

import dataclasses
import hashlib
import subprocess
import sys

import cv2
import numpy as np

from configs.schema import BrushConfig, load_config
from helpers import DEMO_CONFIG, ROOT
from pipelines.chain import stage_chain
from transforms.maskers import MASKERS
from transforms.core.keys import key_seed
from transforms.maskers.brush import brush_mask, propose_brush
from transforms.core.records import ImageRecord


def mask_for(key: str, h=96, w=128, **kw) -> np.ndarray:
    return brush_mask(h, w, BrushConfig(**kw), np.random.default_rng(key_seed(key, kw.pop("seed", 0))))


def digest(m: np.ndarray) -> str:
    return hashlib.sha256(np.packbits(m).tobytes()).hexdigest()[:16]


def test_the_same_key_gives_the_same_mask_in_any_process():
    a = mask_for("laion-0000-000000001-0")
    assert a.dtype == bool and a.shape == (96, 128) and a.any()
    assert np.array_equal(a, mask_for("laion-0000-000000001-0"))
    assert not np.array_equal(a, mask_for("laion-0000-000000002-0"))
    code = ("import numpy as np, hashlib; from configs.schema import BrushConfig; "
            "from transforms.core.keys import key_seed; from transforms.maskers.brush import brush_mask; "
            "m = brush_mask(96, 128, BrushConfig(), np.random.default_rng(key_seed('laion-0000-000000001-0'))); "
            "print(hashlib.sha256(np.packbits(m).tobytes()).hexdigest()[:16])")
    other = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert other.stdout.strip() == digest(a)


def test_strokes_without_vertices_are_discs_of_the_configured_width():
    m = mask_for("k", h=200, w=300, max_vertices=0, min_width=0.1, max_width=0.1, max_strokes=1)
    n, _, stats, _ = cv2.connectedComponentsWithStats(m.view(np.uint8))
    assert n == 2  # one disc (and the background)
    assert abs(stats[1, cv2.CC_STAT_WIDTH] - 20) <= 2 and abs(stats[1, cv2.CC_STAT_AREA] - np.pi * 100) < 40


def test_inversion_and_opening_are_the_same_draw_transformed():
    plain = mask_for("k2")
    assert np.array_equal(mask_for("k2", invert=1.0), ~plain)
    opened = mask_for("k2", erode_dilate=1.0)
    assert not (opened & ~plain).any()  # an opening only removes


def test_the_masker_gives_count_candidates_and_is_registered(tmp_path):
    cfg = load_config(DEMO_CONFIG, ["masks.kind=brush", "masks.brush.count=3"])
    assert MASKERS["brush"] is propose_brush and [n for n, *_ in stage_chain(cfg)][:3] == ["load", "propose", "filter"]
    rec = ImageRecord("demo-1", 0, "", "1", image=np.zeros((64, 80, 3), np.uint8), orig_hw=(64, 80))
    out = propose_brush(rec, cfg)
    assert out == [rec] and [c.key for c in rec.candidates] == ["demo-1-b00", "demo-1-b01", "demo-1-b02"]
    assert {c.class_name for c in rec.candidates} == {"object"}
    assert all(c.meta["masks"]["kind"] == "brush" and c.mask.shape == (64, 80) for c in rec.candidates)
    again = propose_brush(dataclasses.replace(rec, candidates=[]), cfg)[0]
    assert all(np.array_equal(a.mask, b.mask) for a, b in zip(rec.candidates, again.candidates))
