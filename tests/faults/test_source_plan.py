"""The COCO planner on malformed annotation files (pure function, no Beam): every images[] row gets a plan
entry with a unique key, malformed rows never crash it, and what is unusable carries a 'read' reject."""
from __future__ import annotations

import json

import pytest

from configs.schema import ConfigError, SourceConfig
from transforms.core.records import PlanEntry
from transforms.sources.coco import plan_coco
from transforms.stages.load import load_image
from configs.schema import ImageConfig


def _plan(tmp_path, images, annotations=(), categories=({"id": 1, "name": "apple"},), **extra) -> list[dict]:
    path = tmp_path / "instances.json"
    path.write_text(json.dumps({"images": list(images), "annotations": list(annotations),
                                "categories": list(categories), **extra}))
    (tmp_path / "images").mkdir(exist_ok=True)
    return [e.to_json() for e in plan_coco(SourceConfig(annotations=str(path), images=str(tmp_path / "images"), name="f"))]


def _rejects(entries) -> dict[str, str]:
    return {e["key"]: e["meta"].get("reject", {}).get("reason", "") for e in entries}


def test_a_duplicate_image_id_is_rejected_and_the_first_keeps_its_annotations(tmp_path):
    entries = _plan(tmp_path, [{"id": 7, "file_name": "a.jpg"}, {"id": 7, "file_name": "b.jpg"}],
                    [{"id": 1, "image_id": 7, "category_id": 1, "segmentation": [[0, 0, 9, 0, 9, 9]]}])
    assert _rejects(entries) == {"f-000000000007": "", "f-000000000007-dup-1": "duplicate_image_id"}
    assert entries[0]["meta"]["file_name"] == "a.jpg" and len(entries[0]["objects"]) == 1
    assert entries[1]["objects"] == []


def test_ids_that_map_to_one_key_are_a_key_collision(tmp_path):
    entries = _plan(tmp_path, [{"id": "a/b", "file_name": "1.jpg"}, {"id": "a_b", "file_name": "2.jpg"},
                               {"id": "a.b", "file_name": "3.jpg"}, {"id": "a_b-dup-1", "file_name": "4.jpg"}])
    got = _rejects(entries)  # 'a.b' sorts first and keeps f-a_b; the id 'a_b-dup-1' finds its key taken
    assert sorted(got.values()) == ["", "key_collision", "key_collision", "key_collision"]
    assert len(got) == 4, "every entry keeps a key of its own"


@pytest.mark.parametrize("tables", [
    {"annotations": [{"id": 1, "image_id": [1], "category_id": 1}]},
    {"annotations": [{"id": 1, "image_id": 1, "category_id": {"id": 1}}]},
    {"categories": [{"id": [1], "name": "x"}, "not a category"]},
    {"licenses": 5},
    {"licenses": [{"id": [1], "name": "x"}]},
])
def test_malformed_table_rows_never_crash_the_plan(tmp_path, tables):
    kw = {"annotations": [], "categories": [{"id": 1, "name": "apple"}], **tables}
    entries = _plan(tmp_path, [{"id": 1, "file_name": "a.jpg", "license": [1]}], **kw)
    assert [e["key"] for e in entries] == ["f-000000000001"]
    for obj in entries[0]["objects"]:
        assert obj["class_name"] == "" and obj["category_id"] == -1


def test_text_fields_of_other_types_are_kept_as_text(tmp_path):
    entries = _plan(tmp_path, [{"id": 1, "file_name": "a.jpg", "license": 3, "coco_url": ["x"]}],
                    licenses=[{"id": 3, "name": 5, "url": None}])
    meta = entries[0]["meta"]
    assert meta["licence"] == "5" and meta["licence_url"] == "" and meta["url"] == "['x']"


def test_a_planned_reject_becomes_a_read_reject_without_reading_the_file(tmp_path):
    entries = _plan(tmp_path, [{"id": 7, "file_name": "a.jpg"}, {"id": 7, "file_name": "b.jpg"}])
    out = load_image(PlanEntry.from_json(entries[1]).to_record(0), ImageConfig())  # b.jpg does not exist: not read at all
    assert (out.stage, out.reason, out.level) == ("read", "duplicate_image_id", "image")


def test_a_file_that_is_not_json_stops_the_run_with_a_clear_error(tmp_path):
    (tmp_path / "images").mkdir()
    for text, words in (("{not json", "not a JSON file"), ("[1, 2]", "no top-level object"),
                        ('{"images": []}', "lacks the COCO list(s) annotations, categories"),
                        ("[" * 100000 + "]" * 100000, "not a JSON file")):
        path = tmp_path / "instances.json"
        path.write_text(text)
        with pytest.raises(ConfigError, match="source.annotations") as e:
            plan_coco(SourceConfig(annotations=str(path), images=str(tmp_path / "images")))
        assert words in str(e.value)


def test_rows_without_a_usable_id_are_rejected_in_place_not_dropped(tmp_path):
    entries = _plan(tmp_path, [{"file_name": "a.jpg"}, {"id": None, "file_name": "b.jpg"}, "junk",
                               {"id": [3], "file_name": "c.jpg"}, {"id": True, "file_name": "d.jpg"},
                               {"id": 1.5, "file_name": "e.jpg"}, {"id": 9, "file_name": "f.jpg"}])
    assert _rejects(entries) == {"f-000000000009": "", **{f"f-images-{i}": "bad_image_id" for i in range(6)}}
    assert all(e["uri"] == "" for e in entries if e["meta"].get("reject"))


def test_integral_float_ids_are_ints(tmp_path):
    entries = _plan(tmp_path, [{"id": 5.0, "file_name": "a.jpg"}],
                    [{"id": 1, "image_id": 5.0, "category_id": 1.0, "segmentation": [[0, 0, 9, 0, 9, 9]]}])
    assert entries[0]["key"] == "f-000000000005"
    assert entries[0]["objects"][0]["class_name"] == "apple"


@pytest.mark.parametrize("file_name", ["../../etc/passwd", "/etc/passwd", "a/../../b.jpg", "..\\x.jpg",
                                       "http://example.com/a.jpg", "", "  ", 5, None])
def test_a_file_name_outside_the_images_folder_is_rejected_and_never_read(tmp_path, file_name):
    (entry,) = _plan(tmp_path, [{"id": 1, "file_name": file_name}])
    assert entry["meta"]["reject"]["reason"] == "bad_file_name" and entry["uri"] == ""


def test_file_names_in_subfolders_are_fine(tmp_path):
    (entry,) = _plan(tmp_path, [{"id": 1, "file_name": "train/a.b.jpg"}])
    assert "reject" not in entry["meta"] and entry["uri"].endswith("images/train/a.b.jpg")
