"""Stage functions that misbehave on one element (registry entries monkeypatched for one build): the
element becomes a reject with its stage and a reason, every other element is still written."""
from __future__ import annotations

import numpy as np
import pytest

from faults.kit import CocoSet, assert_accounting, build, encode, image_key, outcomes, scene
from transforms import language, maskers, removers
from transforms.language import templates
from transforms.maskers import annotations
from transforms.removers import opencv

N_IMAGES = 10
RAISE_IN_REMOVE, WRONG_SHAPE_SOURCE = 1, 2
EMPTY_MASK, WRONG_SHAPE_MASK, RAISE_IN_PROPOSE = 3, 4, 5
EMPTY_TEXT, BLANK_TEXT = 6, 7


def _cand(image_id: int) -> str:
    return f"{image_key(image_id)}-{image_id * 100}"


def masker(rec, cfg):
    """The annotations masker, except that its 'model' returns an empty or a wrong-sized mask (HxW bool
    in the decoded frame, as model maskers hand them over) or raises, each for one image."""
    if rec.key == image_key(RAISE_IN_PROPOSE):
        raise RuntimeError("masker exploded")
    for obj in rec.objects:
        if rec.key == image_key(EMPTY_MASK):
            obj.segmentation = np.zeros(rec.orig_hw, bool)
        if rec.key == image_key(WRONG_SHAPE_MASK):
            obj.segmentation = np.ones((7, 9), bool)
    return annotations.propose_from_annotations(rec, cfg)


def remover(c, cfg):
    """OpenCV removal, except it raises on one candidate and returns a wrongly sized image on another."""
    if c.key == _cand(RAISE_IN_REMOVE):
        raise RuntimeError("inpainting model exploded")
    c = opencv.remove_opencv(c, cfg)
    if c.key == _cand(WRONG_SHAPE_SOURCE):
        c.source = c.source[:10]
    return c


def instructor(c, cfg):
    """Template instructions, except the text model answers nothing (or blanks) for two candidates."""
    c = templates.template_instructions(c, cfg)
    if c.key in (_cand(EMPTY_TEXT), _cand(BLANK_TEXT)):
        c.instructions["add"] = "" if c.key == _cand(EMPTY_TEXT) else " \n "
    return c


@pytest.fixture(scope="module")
def misbehaving_build(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    coco = CocoSet(root / "in")
    for _ in range(N_IMAGES):
        coco.add(encode(scene()))
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(maskers.MASKERS, "annotations", masker)
        mp.setitem(removers.REMOVERS, "opencv", remover)
        mp.setitem(language.INSTRUCTORS, "template", instructor)
        out = str(root / "out")
        report = build(coco, out)
    return out, report


def test_accounting_holds(misbehaving_build):
    assert_accounting(*misbehaving_build)


@pytest.mark.parametrize("key, expected", [
    (_cand(RAISE_IN_REMOVE), "remove/error"),
    (_cand(WRONG_SHAPE_SOURCE), "blend/error"),
    (_cand(EMPTY_MASK), "propose/empty_mask"),
    (_cand(WRONG_SHAPE_MASK), "propose/mask_size_mismatch"),
    (image_key(RAISE_IN_PROPOSE), "propose/error"),
])
def test_the_misbehaving_element_is_a_reject(misbehaving_build, key, expected):
    assert outcomes(misbehaving_build[0]).get(key) == expected


def test_every_other_element_is_written(misbehaving_build):
    got = outcomes(misbehaving_build[0])
    fine = set(range(1, N_IMAGES + 1)) - {RAISE_IN_REMOVE, WRONG_SHAPE_SOURCE, EMPTY_MASK, WRONG_SHAPE_MASK,
                                          RAISE_IN_PROPOSE, EMPTY_TEXT, BLANK_TEXT}
    assert {got.get(_cand(i)) for i in fine} == {"pair"}


def test_error_rejects_say_what_was_raised(misbehaving_build):
    from faults.kit import reject_rows
    rows = {r["key"]: r for r in reject_rows(misbehaving_build[0])}
    assert "inpainting model exploded" in rows[_cand(RAISE_IN_REMOVE)]["detail"]
    assert "masker exploded" in rows[image_key(RAISE_IN_PROPOSE)]["detail"]


@pytest.mark.parametrize("image_id", [EMPTY_TEXT, BLANK_TEXT])
def test_an_empty_instruction_is_a_reject_not_a_pair(misbehaving_build, image_id):
    assert outcomes(misbehaving_build[0]).get(_cand(image_id)) == "encode/empty_instruction"


def _returns_none_for_one(c, cfg):
    return None if c.key == _cand(1) else opencv.remove_opencv(c, cfg)


def test_a_stage_that_returns_nothing_is_a_reject_not_a_failed_build(tmp_path, monkeypatch):
    coco = CocoSet(tmp_path / "in")
    for _ in range(2):
        coco.add(encode(scene()))
    monkeypatch.setitem(removers.REMOVERS, "opencv", _returns_none_for_one)
    out = str(tmp_path / "out")
    report = build(coco, out)
    assert outcomes(out) == {_cand(1): "remove/error", _cand(2): "pair"}
    assert_accounting(out, report)
