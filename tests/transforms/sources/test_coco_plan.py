"""A COCO/LVIS json is planned by msgspec with each segmentation kept as the file's own text; a file that
does not fit that shape is read again by Python's json with each row checked. Both give the same entries,
and the plan file carries the polygons byte for byte as they came."""
from __future__ import annotations

import json

import msgspec

from helpers import DEMO_DATA
from configs.schema import SourceConfig
from pipelines.plan import plan_text
from transforms.core.records import PlanEntry, plain
from transforms.sources import coco, plan_source


def _plan(path, images) -> list[PlanEntry]:
    return [e for shard in plan_source(SourceConfig(kind="coco", name="c", annotations=str(path), images=str(images)))
            for e in shard]


def _values(entries: list[PlanEntry]) -> list[dict]:
    """What a worker reads back from the plan file: the entries as JSON values."""
    return json.loads(plan_text(0, entries))["images"]


def _coco(tmp_path, annotations: list, images=None) -> str:
    path = tmp_path / "instances.json"
    images = images or [{"id": 2, "file_name": "b.jpg", "width": 8, "height": 6},
                        {"id": 1, "file_name": "a.jpg", "width": 8, "height": 6}]
    path.write_text(json.dumps({"images": images, "annotations": annotations,
                                "categories": [{"id": 3, "name": "cup"}], "licenses": []}))
    return str(path)


def test_the_fast_read_gives_the_checked_reads_entries(tmp_path, monkeypatch):
    fast = _plan(f"{DEMO_DATA}/instances.json", f"{DEMO_DATA}/images")
    assert any(isinstance(o["segmentation"], msgspec.Raw) for e in fast for o in e.objects)
    monkeypatch.setattr(coco, "_FAST", msgspec.json.Decoder(int))   # every file fails the fast shape
    checked = _plan(f"{DEMO_DATA}/instances.json", f"{DEMO_DATA}/images")
    assert not any(isinstance(o["segmentation"], msgspec.Raw) for e in checked for o in e.objects)
    assert _values(fast) == _values(checked) and len(fast) == 7
    assert [plain(o) for e in fast for o in e.objects] == [o for e in checked for o in e.objects]
    assert [e.to_record(0).objects for e in fast] == [e.to_record(0).objects for e in checked]


def test_polygons_are_written_as_the_file_has_them(tmp_path):
    polygon = "[[1.5,2.25,7.125,2.0,7.0,5.5]]"
    path = tmp_path / "instances.json"
    path.write_text('{"images":[{"id":1,"file_name":"a.jpg"}],"categories":[{"id":3,"name":"cup"}],'
                    '"annotations":[{"id":9,"image_id":1,"category_id":3,"segmentation":' + polygon + ',"area":4.0},'
                    '{"id":10,"image_id":1,"category_id":3,"segmentation":[]}]}')
    (entry,) = _plan(path, tmp_path)
    text = plan_text(0, [entry])
    assert b'"segmentation":' + polygon.encode() in text             # not re-formatted, not re-rounded
    by_id = {o["ann_id"]: o for o in entry.objects}
    assert by_id["10"]["segmentation"] == []                         # short values are Python's: falsy stays falsy
    read = {o["ann_id"]: o for o in _values([entry])[0]["objects"]}
    assert read["9"]["segmentation"] == [[1.5, 2.25, 7.125, 2.0, 7.0, 5.5]]


def test_odd_rows_are_read_by_the_checked_path(tmp_path):
    anns = [{"id": 1, "image_id": 1, "category_id": 3, "segmentation": [[0, 0, 4, 0, 4, 4]]}, 17, "x"]
    entries = _plan(_coco(tmp_path, anns), tmp_path)                 # rows that are not objects: left out
    assert [e.key for e in entries] == ["c-000000000001", "c-000000000002"]
    assert [len(e.objects) for e in entries] == [1, 0]


def test_a_file_name_with_a_lone_surrogate_is_planned_and_read_back(tmp_path):
    path = tmp_path / "instances.json"                               # json.dumps writes it as an escape
    path.write_text(json.dumps({"images": [{"id": 1, "file_name": "a\udc80.jpg"}], "annotations": [],
                                "categories": []}))
    (entry,) = _plan(path, tmp_path)
    assert entry.meta["file_name"] == "a\udc80.jpg"
    assert _values([entry])[0]["meta"]["file_name"] == "a\udc80.jpg"


def test_the_same_annotations_written_with_other_spacing_plan_the_same_bytes(tmp_path):
    spaced = tmp_path / "instances.json"
    spaced.write_text(json.dumps(json.load(open(f"{DEMO_DATA}/instances.json")), indent=2))
    as_shipped = _plan(f"{DEMO_DATA}/instances.json", f"{DEMO_DATA}/images")
    again = _plan(spaced, f"{DEMO_DATA}/images")
    assert all(isinstance(o["segmentation"], msgspec.Raw) for e in again for o in e.objects)
    assert plan_text(0, again) == plan_text(0, as_shipped)
