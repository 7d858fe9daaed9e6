"""Bad annotations, all in one end-to-end build: every image and every annotation ends as a written pair
or a reject with a precise reason. Annotation files too broken to plan stop the run before any work."""
from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils

from configs.schema import ConfigError
from faults.kit import DISC, H, W, CocoSet, assert_accounting, build, disc_ann, encode, fault_config, image_key, \
    outcomes, samples, scene
from helpers import circle_polygon
from pipelines.run import run_build

CATEGORIES = [{"id": 1, "name": "apple"}, {"id": 2, "name": "  "}, {"id": 3, "name": "_"}]
DISC_MASK = np.asarray(Image.fromarray(scene())).copy()[:, :, 1] < 80  # the red disc (green channel low)


def _rle(mask: np.ndarray, compressed: bool = True) -> dict:
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    if compressed:
        return {"size": rle["size"], "counts": rle["counts"].decode()}
    flat = mask.flatten(order="F").astype(np.int8)
    changes = np.flatnonzero(np.diff(np.r_[0, flat, 1 - flat[-1]]))
    return {"size": list(mask.shape), "counts": np.diff(np.r_[0, changes]).tolist()}


def _seg(segmentation, **extra) -> list[dict]:
    return [{"segmentation": segmentation, "category_id": 1, "iscrowd": 0, **extra}]


BOWTIE = [[50, 20, 110, 80, 110, 20, 50, 80]]  # two triangles meeting at (80, 50)
OBJECTS = {  # name -> (annotations of one image, expected outcome of its one annotation)
    "polygon_outside_image": (_seg([circle_polygon(400, 300, 20)]), "propose/outside_image"),
    "polygon_far_outside_image": (_seg([[1e12, 1e12, 2e12, 1e12, 2e12, 2e12]]), "propose/outside_image"),
    "polygon_huge_coordinates": (_seg([[0, 0, 1e9, 0, 1e9, 1e9, 0, 1e9]]), "propose/polygon_out_of_range"),
    "polygon_nan_coordinate": (_seg([[float("nan"), 10, 90, 10, 90, 90]]), "propose/bad_segmentation"),
    "polygon_infinite_coordinate": (_seg([[float("inf"), 10, 90, 10, 90, 90]]), "propose/bad_segmentation"),
    "polygon_partly_outside_top": (_seg([circle_polygon(80, 0, 30)]), "filter/touches_border"),
    "polygon_zero_area": (_seg([[10, 10, 50, 50, 90, 90]]), "propose/empty_mask"),
    "polygon_single_point_repeated": (_seg([[40, 40, 40, 40, 40, 40]]), "propose/empty_mask"),
    "polygon_self_intersecting": (_seg(BOWTIE), "pair"),
    "polygon_two_points": (_seg([[10, 10, 50, 50]]), "propose/bad_segmentation"),
    "polygon_odd_length": (_seg([[10, 10, 50, 10, 50, 50, 10]]), "propose/bad_segmentation"),
    "polygon_flat_not_nested": (_seg(circle_polygon(60, 50, 24)), "propose/bad_segmentation"),
    "polygon_text_coordinates": (_seg([["a", "b", "c", "d", "e", "f"]]), "propose/bad_segmentation"),
    "segmentation_missing": ([{"category_id": 1, "iscrowd": 0}], "propose/bad_segmentation"),
    "segmentation_a_number": (_seg(5), "propose/bad_segmentation"),
    "rle_compressed": (_seg(_rle(DISC_MASK)), "pair"),
    "rle_uncompressed": (_seg(_rle(DISC_MASK, compressed=False)), "pair"),
    "rle_wrong_size": (_seg({**_rle(DISC_MASK[:60]), "size": [60, W]}), "propose/mask_size_mismatch"),
    "rle_size_not_a_list": (_seg({"size": 5, "counts": [H * W]}), "propose/mask_size_mismatch"),
    "rle_runs_too_short": (_seg({"size": [H, W], "counts": [0, 10]}), "propose/bad_rle"),
    "rle_runs_too_long": (_seg({"size": [H, W], "counts": [0, H * W * 3]}), "propose/bad_rle"),
    "rle_negative_run": (_seg({"size": [H, W], "counts": [-5, H * W + 5]}), "propose/bad_rle"),
    "rle_compressed_garbage": (_seg({"size": [H, W], "counts": "zzzz~~~~"}), "propose/bad_rle"),
    "unknown_category_id": ([disc_ann(None, None, category_id=99)], "propose/unknown_category"),
    "category_id_missing": ([{k: v for k, v in disc_ann(None, None).items() if k != "category_id"}],
                            "propose/unknown_category"),
    "category_name_blank": ([disc_ann(None, None, category_id=2)], "propose/unknown_category"),
    "category_name_underscore": ([disc_ann(None, None, category_id=3)], "propose/unknown_category"),
    "iscrowd": ([disc_ann(None, None, iscrowd=1)], "propose/iscrowd"),
}
IMAGES = {  # name -> (CocoSet.add keyword arguments, expected outcome of the image)
    "missing_file": ({"data": None, "name": "gone.jpg"}, "load/file_missing"),
    "no_annotations": ({"anns": []}, "propose/no_objects"),
    "json_size_disagrees_with_file": ({"size": (W * 2, H * 2)}, "propose/image_size_mismatch"),
    "file_name_empty": ({"name": "", "data": None}, "read/bad_file_name"),
}


@pytest.fixture(scope="module")
def annotations_build(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad_annotations")
    coco, ids = CocoSet(root / "in", CATEGORIES), {}
    jpg = encode(scene())
    for name, (anns, _) in OBJECTS.items():
        ids[name] = coco.add(jpg, f"{name}.jpg", anns=[dict(a, id=None) for a in anns])
    for name, (kw, _) in IMAGES.items():
        ids[name] = coco.add(**{"data": jpg, "name": f"{name}.jpg", **kw})
    # the same annotation id twice on one image; and two ids that differ only in a character keys drop
    ids["duplicate_annotation_id"] = coco.add(jpg, "dupann.jpg", anns=[disc_ann(5, None), disc_ann(5, None)])
    ids["annotation_ids_collide"] = coco.add(jpg, "collide.jpg", anns=[disc_ann("a/b", None),
                                                                       disc_ann("a.b", None)])
    # the same image id twice (a different file): the first keeps the id and its annotations
    ids["duplicate_image_id"] = coco.add(jpg, "first.jpg", image_id=500)
    coco.add(jpg, "second.jpg", image_id=500, anns=[])
    # a 2x2 px object on a 640x480 image: nearest-neighbour downscaling to 128 px drops it
    tiny = _seg([[301, 201, 303, 201, 303, 203, 301, 203]])
    ids["object_vanishes_at_resize"] = coco.add(encode(scene(480, 640, (300, 200, 60))), "big.jpg",
                                                size=(640, 480), anns=tiny)
    coco.images.append({"file_name": "noid.jpg", "width": W, "height": H})  # images[] row without an id
    coco.annotations.append(disc_ann(77, 9999))  # an annotation of an image the file does not list
    out = str(root / "out")
    return out, build(coco, out), ids, coco


def _cand(image_id, ann_id=None) -> str:
    return f"{image_key(image_id)}-{image_id * 100 if ann_id is None else ann_id}"


def test_accounting_holds(annotations_build):
    out, report, _, coco = annotations_build
    assert_accounting(out, report)
    assert report["images_in"] == len(coco.images)


@pytest.mark.parametrize("name", sorted(OBJECTS))
def test_bad_annotation_has_its_outcome(annotations_build, name):
    out, _, ids, _ = annotations_build
    assert outcomes(out).get(_cand(ids[name])) == OBJECTS[name][1]


@pytest.mark.parametrize("name", sorted(IMAGES))
def test_bad_image_entry_has_its_outcome(annotations_build, name):
    out, _, ids, _ = annotations_build
    assert outcomes(out).get(image_key(ids[name])) == IMAGES[name][1]


def test_self_intersecting_polygon_fills_both_lobes_only(annotations_build):
    out, _, ids, _ = annotations_build
    mask = np.asarray(Image.open(io.BytesIO(samples(out)[_cand(ids["polygon_self_intersecting"])]["mask.png"])))
    lobes = 2 * (60 * 30 / 2) * (128 / H) ** 2  # two triangles, not the 60x60 square their corners span
    assert abs((mask > 0).sum() - lobes) < 0.1 * lobes


def test_rle_and_polygon_of_the_same_object_give_the_same_mask(annotations_build):
    out, _, ids, _ = annotations_build
    masks = [np.asarray(Image.open(io.BytesIO(samples(out)[_cand(ids[n])]["mask.png"]))) > 0
             for n in ("rle_compressed", "rle_uncompressed")]
    assert (masks[0] == masks[1]).all() and masks[0].sum() > 1000


def test_duplicate_annotation_id_keeps_the_first_and_rejects_the_second(annotations_build):
    out, _, ids, _ = annotations_build
    got = {k: v for k, v in outcomes(out).items() if k.startswith(image_key(ids["duplicate_annotation_id"]) + "-")}
    assert got == {_cand(ids["duplicate_annotation_id"], 5): "pair",
                   _cand(ids["duplicate_annotation_id"], "5-dup-1"): "propose/duplicate_annotation_id"}


def test_annotation_ids_that_sanitise_to_one_key_are_a_key_collision(annotations_build):
    out, _, ids, _ = annotations_build
    prefix = image_key(ids["annotation_ids_collide"]) + "-"
    got = sorted(v for k, v in outcomes(out).items() if k.startswith(prefix))
    assert got == ["pair", "propose/key_collision"]


def test_duplicate_image_id_keeps_the_first_file_and_rejects_the_second(annotations_build):
    out, _, ids, _ = annotations_build
    key = image_key(ids["duplicate_image_id"])
    assert outcomes(out)[f"{key}-{500 * 100}"] == "pair"
    assert outcomes(out)[f"{key}-dup-1"] == "read/duplicate_image_id"
    meta = json.loads(samples(out)[f"{key}-{500 * 100}"]["json"])
    assert meta["source"]["file_name"] == "first.jpg"


def test_an_object_lost_by_downscaling_says_so(annotations_build):
    out, _, ids, _ = annotations_build
    assert outcomes(out).get(_cand(ids["object_vanishes_at_resize"])) == "propose/vanished_at_resize"


def test_a_row_without_an_id_is_rejected_not_dropped(annotations_build):
    out, _, _, coco = annotations_build
    assert outcomes(out)[f"f-images-{len(coco.images) - 1}"] == "read/bad_image_id"


@pytest.mark.parametrize("text, words", [
    ("{not json", "is not a JSON file"),
    ("[1, 2, 3]", "no top-level object"),
    ('{"images": [], "annotations": []}', "lacks the COCO list(s) categories"),
    ('{"images": {}, "annotations": [], "categories": []}', "lacks the COCO list(s) images"),
    ('{"images": [], "annotations": [], "categories": []}', "no images found"),
    ("\xff\xfe not utf-8", "is not a JSON file"),
])
def test_an_annotation_file_that_cannot_be_planned_stops_before_any_work(tmp_path, text, words):
    coco = CocoSet(tmp_path / "in")
    path = tmp_path / "in" / "instances.json"
    path.write_bytes(text.encode("latin-1"))
    out = tmp_path / "out"
    with pytest.raises(ConfigError, match="source") as e:
        run_build(fault_config(str(path), coco.images_dir), str(out), [], log=lambda *_: None)
    assert words in str(e.value) and not out.exists()
