import numpy as np
import pytest

from configs.schema import InstructionsConfig, RemovalConfig
from transforms.stages.blend import blend
from transforms.core.geometry import LOCATIONS, location
from transforms.core.text import with_article
from transforms.language.templates import template_instructions
from transforms.core.keys import safe_key
from transforms.core.records import Candidate
from transforms.core.geometry import dilate
from transforms.removers.opencv import remove_opencv


def _cand():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (128, 160, 3), dtype=np.uint8)
    mask = np.zeros((128, 160), bool)
    mask[40:70, 100:130] = True
    image[mask] = (255, 0, 0)
    return Candidate(key="k-1", shard=0, image_key="k", class_name="apple", category_id=1, image=image, mask=mask)


def test_remove_and_blend_change_only_the_dilated_region_and_replace_the_object():
    cfg = RemovalConfig(dilate=11, feather=5)
    c = blend(remove_opencv(_cand(), cfg), cfg)
    assert c.dilated.sum() > c.mask.sum() and (c.dilated >= c.mask).all()
    assert (c.source[~c.dilated] == c.image[~c.dilated]).all()
    assert (c.source[c.mask] != (255, 0, 0)).any(axis=-1).mean() > 0.95  # the red object is gone
    assert c.meta["removal"] == {"kind": "opencv", "method": "telea", "radius": 5, "dilate": 11, "work_side": 256}


def test_dilate_grows_by_the_kernel_radius():
    m = np.zeros((50, 50), bool)
    m[25, 25] = True
    d = dilate(m, 7)
    assert d.sum() > 1 and d[25, 22] and d[25, 28] and not d[25, 21]


@pytest.mark.parametrize("yx, cell", [((5, 5), "top left"), ((50, 50), "center"), ((95, 5), "bottom left"),
                                      ((5, 95), "top right"), ((50, 95), "middle right")])
def test_location_grid(yx, cell):
    m = np.zeros((100, 100), bool)
    m[yx[0] - 2: yx[0] + 2, yx[1] - 2: yx[1] + 2] = True
    assert location(m) == cell
    assert cell in {c for row in LOCATIONS for c in row}


def test_template_instructions():
    c = template_instructions(_cand(), InstructionsConfig())
    assert c.instructions == {"add": "add an apple", "add_location": "add an apple at the middle right",
                              "remove": "remove the apple"}
    assert with_article("dog") == "a dog"


@pytest.mark.parametrize("parts", [("demo", "../../etc"), ("a.b", "c/d"), ("x", "y z\\w")])
def test_keys_never_hold_dots_or_separators(parts):
    key = safe_key(*parts)
    assert "." not in key and "/" not in key and "\\" not in key and " " not in key


@pytest.mark.parametrize("work_side", [0, 32])
def test_large_regions_are_filled_at_reduced_size_and_still_only_inside_the_dilated_mask(work_side):
    c = _cand()
    c.mask[:] = False
    c.mask[20:110, 20:140] = True
    c.image[c.mask] = (255, 0, 0)
    cfg = RemovalConfig(dilate=11, feather=5, work_side=work_side)
    c = blend(remove_opencv(c, cfg), cfg)
    assert (c.source[~c.dilated] == c.image[~c.dilated]).all()
    assert (c.source[c.mask][:, 0] < 250).mean() > 0.95  # the red object is gone
    assert c.meta["removal"]["work_side"] == work_side
