"""Pinned output bytes: fixed builds must write the same files as when the digests were recorded.

The digests in ``pinned_bytes.json`` guard every change: the demo, BrushData from the demo's annotations, brush masks from a folder, a URL table
of local files, the fault suite's bad-image set, the tiny-model PIPE and Grounded-SAM BrushData
recipes, and BrushData-v2 with annotation donors (pinned before the donors could come from a model). For each build the digest covers every file of shards/ (tars, sidecars, stats) and rejects/, and
the plan. Files that name a machine-dependent path (the plan names the inputs' absolute paths; a pair's
json names the tiny models' folder) are digested with those paths replaced by placeholders; tar members
are digested one by one so a changed member is named. Everything else is hashed byte for byte.

What is pinned is what every x86-64 machine reproduces. The CPU default's builds (OpenCV removal, template
instructions) are pinned byte for byte, and one more test builds them with OpenCV's optimised kernels off,
standing in for a CPU that dispatches to other SIMD code. The model recipes' images, masks and texts are
pinned byte for byte too, but their scores come from float kernels that MKL and oneDNN pick by CPU and may
differ in the last bits from machine to machine: their json members and parquet rows are pinned as values,
numbers equal within ``TOLERANCE`` (``.ci/run`` runs them again under another ``MKL_CBWR`` path). That the
same machine gives the same bytes under any parallelism is tests/pipelines/test_concurrency_e2e.py's check.

A change that is meant to alter output bytes re-records: ``python tests/contracts/test_same_bytes.py``
(and says so in its commit message).
"""
from __future__ import annotations

import hashlib
import io
import json
import math
import os
import shutil
import sys
import tarfile

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
if __name__ == "__main__":  # run as a script: tests/ for the helpers, the project root after it
    sys.path[:1] = [os.path.dirname(HERE), os.path.dirname(os.path.dirname(HERE))]

from configs.schema import load_config  # noqa: E402
from helpers import DEMO_CONFIG, DEMO_DATA, ROOT  # noqa: E402
from pipelines.run import run_build  # noqa: E402

PINNED = os.path.join(HERE, "pinned_bytes.json")
PIPE = os.path.join(ROOT, "configs", "pipe_coco.yaml")
BRUSHDATA = os.path.join(ROOT, "configs", "brushdata_laion.yaml")
BRUSHDATA_V2 = os.path.join(ROOT, "configs", "brushdata_v2_coco.yaml")
KEEP_ALL = ["filters.min_area_ratio=0", "filters.max_area_ratio=1", "filters.min_pixels=1",
            "filters.max_border_touch=1", "filters.min_component_share=0", "filters.min_crop_kept=0",
            "filters.max_objects=0"]
CAPTIONS = ["a cat on a sofa", "a photo of a dog", "an apple and a cat", "a rocket", "the dog and the apple",
            "a photo of an empty place", "a red apple"]


def _demo_copy(root: str) -> str:
    dst = os.path.join(root, "demo")
    if not os.path.isdir(dst):
        shutil.copytree(DEMO_DATA, dst)
    return dst


def _local_table(root: str) -> str:
    """A URL table (LAION's columns) whose rows are image paths relative to the table's folder."""
    demo = _demo_copy(root)
    names = sorted(os.listdir(os.path.join(demo, "images")))
    path = os.path.join(demo, "table.parquet")
    pq.write_table(pa.table({"url": [f"images/{n}" for n in names], "caption": CAPTIONS[: len(names)],
                             "license": ["cc0"] * len(names)}), path)
    return path


def _bad_images(root: str) -> tuple[str, str]:
    from faults.kit import CocoSet
    from faults.test_bad_images import BAD, EXIF_TO_STORED, GARBLED, GOOD, _exif_jpeg
    coco = CocoSet(os.path.join(root, "bad"))
    good = dict(GOOD, broken_exif=("bexif.jpg", _exif_jpeg(1, broken=True), None, None))
    for file_name, data, *_ in good.values():
        coco.add(data, file_name)
    for o in EXIF_TO_STORED:
        coco.add(_exif_jpeg(o), f"exif{o}.jpg")
    for file_name, data in GARBLED.values():
        coco.add(data, file_name)
    for file_name, data, _ in BAD.values():
        coco.add(data, file_name)
    os.makedirs(os.path.join(coco.images_dir, "folder.jpg"), exist_ok=True)
    return coco.write(), coco.images_dir


def _tiny_pipe_set(root: str) -> list[str]:
    from helpers import circle_polygon, write_coco
    rng = np.random.default_rng(5)
    images = {f"{i}.jpg": rng.integers(0, 255, (72, 96, 3), dtype=np.uint8) for i in range(1, 5)}
    anns = [{"id": 10 * i + j, "image_id": i, "category_id": 1 + j, "iscrowd": 0,
             "segmentation": [circle_polygon(35 + 27 * j, 36, 12 - 2 * j)]} for i in range(1, 5) for j in (0, 1)]
    annotations, image_dir = write_coco(os.path.join(root, "tiny_coco"), images, anns,
                                        categories=({"id": 1, "name": "apple"}, {"id": 2, "name": "cat"}))
    return [f"source.annotations={annotations}", f"source.images={image_dir}", "source.shard_size=2"]


def builds(root: str, tiny: dict[str, str]) -> dict[str, tuple[str, list[str]]]:
    """name -> (config file, overrides) of every pinned build."""
    from tiny_models import tiny_overrides
    demo = _demo_copy(root)
    demo_src = [f"source.annotations={demo}/instances.json", f"source.images={demo}/images"]
    bad_json, bad_dir = _bad_images(root)
    table = _local_table(root)
    table_src = ["source.kind=laion_parquet", f"source.annotations={table}", "source.name=laion",
                 "source.shard_size=3", "image.size=96", "image.min_side=16"]
    open_quality = ["quality.min_class_similarity=-1", "quality.max_consensus=2", "quality.max_removal_score=1",
                    "quality.max_importance=1", "removal.diffusion.batch_size=1"]
    return {
        "demo_pipe": (DEMO_CONFIG, demo_src),
        "demo_brushdata": (DEMO_CONFIG, [*demo_src, "output.format=brushdata"]),
        "folder_brush_brushdata": (DEMO_CONFIG, ["source.kind=folder", f"source.images={demo}/images",
                                                 "source.name=folder", "image.size=128", "masks.kind=brush",
                                                 "output.format=brushdata", *KEEP_ALL]),
        "table_brush_pipe": (DEMO_CONFIG, [*table_src, "masks.kind=brush", *KEEP_ALL]),
        "fault_bad_images": (DEMO_CONFIG, [f"source.annotations={bad_json}", f"source.images={bad_dir}",
                                           "source.name=f", "image.size=128", "source.shard_size=8",
                                           "image.max_pixels=4000000"]),
        "tiny_pipe_recipe": (PIPE, [*_tiny_pipe_set(root), "image.size=64", *KEEP_ALL,
                                    *tiny_overrides(tiny, masks=None, quality=True), *open_quality]),
        "demo_v2_annotation_donors": (BRUSHDATA_V2, [*demo_src, "source.shard_size=3", "image.size=128",
                                                     "image.min_side=16", "masks.borrowed.max_object_share=0.6"]),
        "tiny_grounded_brushdata": (BRUSHDATA, [f"source.annotations={table}", "source.shard_size=4",
                                                "image.size=96", "image.min_side=16", *KEEP_ALL,
                                                f"masks.grounding.model={tiny['grounding_dino']}",
                                                f"masks.grounding.sam_model={tiny['hf_sam']}",
                                                "masks.grounding.box_threshold=0", "masks.grounding.text_threshold=0",
                                                "masks.grounding.max_boxes=3", "masks.grounding.batch_size=1"]),
    }


MODEL_BUILDS = {"tiny_pipe_recipe", "tiny_grounded_brushdata"}   # scores from float kernels: pinned as values
TOLERANCE = {"rel_tol": 1e-3, "abs_tol": 1e-3}   # MKL paths measured here: up to 6e-5 apart


def _clean(data: bytes, roots: dict[str, str]) -> bytes:
    for name, path in roots.items():
        data = data.replace(path.encode(), name.encode())
    return data


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:24]


def _values(obj):
    """``obj`` with every string that holds a JSON object or list parsed (a sidecar's metadata_json)."""
    if isinstance(obj, dict):
        return {k: _values(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_values(v) for v in obj]
    if isinstance(obj, str) and obj[:1] in "[{":
        try:
            return _values(json.loads(obj))
        except ValueError:
            return obj
    return obj


def values_file(path: str, roots: dict[str, str]) -> object:
    """A model build's file: tar members that hold json, and parquet rows, as values (paths cleaned);
    everything else as ``digest_file`` gives it."""
    if path.endswith(".tar"):
        with tarfile.open(path) as tar:
            members = {}
            for m in tar.getmembers():
                data = _clean(tar.extractfile(m).read(), roots)
                members[m.name] = {"values": json.loads(data)} if m.name.endswith(".json") else _sha(data)
        return {"members": members}
    if path.endswith(".parquet"):
        table = pq.read_table(path)
        rows = json.loads(_clean(json.dumps(table.to_pylist(), default=str).encode(), roots))
        return {"schema": _sha(str(table.schema.remove_metadata()).encode()), "values": _values(rows),
                **({"metadata": _sha(_clean(str(table.schema.metadata).encode(), roots))}
                   if table.schema.metadata else {})}
    return digest_file(path, roots)


def close(want, got) -> bool:
    """``want`` and ``got`` are equal, numbers within TOLERANCE (bools and ints exactly)."""
    if isinstance(want, float) or isinstance(got, float):
        return (isinstance(want, (int, float)) and isinstance(got, (int, float)) and not isinstance(want, bool)
                and not isinstance(got, bool) and math.isclose(want, got, **TOLERANCE))
    if isinstance(want, dict) and isinstance(got, dict):
        return sorted(want) == sorted(got) and all(close(want[k], got[k]) for k in want)
    if isinstance(want, list) and isinstance(got, list):
        return len(want) == len(got) and all(close(a, b) for a, b in zip(want, got))
    return want == got


def digest_file(path: str, roots: dict[str, str]) -> object:
    """One file's digest: raw sha256, or (when it names a machine path) the sha256 of its cleaned content;
    a tar is digested member by member."""
    with open(path, "rb") as f:
        data = f.read()
    if path.endswith(".stats.json"):   # less its files' sizes and checksums: those of files pinned here, and
        stats = json.loads(data)       # of this machine's paths where a file holds one (tests/pipelines/test_verify.py)
        stats.pop("files", None)
        data = json.dumps(stats, indent=1, sort_keys=True).encode()
    if not any(p.encode() in data for p in roots.values()) and not path.endswith(".parquet"):
        if not path.endswith(".tar"):
            return _sha(data)
    if path.endswith(".tar"):
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            members = {m.name: _sha(_clean(tar.extractfile(m).read(), roots)) for m in tar.getmembers()}
        return {"raw": _sha(data) if not any(p.encode() in data for p in roots.values()) else "paths",
                "members": members}
    if path.endswith(".parquet"):
        table = pq.read_table(path)
        rows = json.dumps(table.to_pylist(), sort_keys=True, default=str).encode()
        if table.schema.metadata:   # a row plan's source config (it names the inputs' paths): with the rows
            rows += json.dumps({k.decode(): v.decode() for k, v in table.schema.metadata.items()
                                if k != b"ARROW:schema"}, sort_keys=True).encode()
        raw = _sha(data) if not any(p.encode() in rows for p in roots.values()) else "paths"
        return {"raw": raw, "schema": _sha(str(table.schema.remove_metadata()).encode()),
                "rows": _sha(_clean(rows, roots))}
    return _sha(_clean(data, roots))


def digest_output(out: str, roots: dict[str, str], as_values: bool = False) -> dict:
    read = values_file if as_values else digest_file
    found = {}
    for sub in ("plan", "shards", "rejects"):
        folder = os.path.join(out, sub)
        for name in sorted(os.listdir(folder)):
            if f"{sub}/{name}" == "plan/inputs.json":   # the inputs' modification times: this machine's, this run's
                continue
            found[f"{sub}/{name}"] = read(os.path.join(folder, name), roots)
    return found


def run_all(root: str, tiny: dict[str, str], only=None) -> dict:
    roots = {"<TINY>": os.path.dirname(tiny["clip"]), "<ROOT>": root}
    result = {}
    for name, (config, overrides) in builds(root, tiny).items():
        if only and name not in only:
            continue
        out = os.path.join(root, "out", name)
        run_build(load_config(config, overrides), out, [], log=lambda *_: None)
        result[name] = digest_output(out, roots, as_values=name in MODEL_BUILDS)
    return result


@pytest.fixture(scope="module")
def pinned() -> dict:
    with open(PINNED) as f:
        return json.load(f)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from tiny_models import session_models
    return session_models(tmp_path_factory)


BUILDS = ["demo_pipe", "demo_brushdata", "folder_brush_brushdata", "table_brush_pipe", "fault_bad_images",
          "tiny_pipe_recipe", "tiny_grounded_brushdata", "demo_v2_annotation_donors"]


def assert_pinned(name: str, got: dict, want: dict) -> None:
    assert sorted(got) == sorted(want), "the build wrote other files than the pinned ones"
    changed = {path: (want[path], got[path]) for path in want if not close(want[path], got[path])}
    members = {path: sorted(m for m in w["members"] if not close(w["members"][m], g["members"].get(m)))
               for path, (w, g) in changed.items() if isinstance(w, dict) and "members" in w}
    assert not changed, f"{name}: changed bytes in {sorted(changed)}; tar members: {members}; {changed}"


@pytest.mark.parametrize("name", BUILDS)
def test_a_fixed_build_writes_the_pinned_bytes(tmp_path, tiny, pinned, name):
    assert_pinned(name, run_all(str(tmp_path), tiny, only={name})[name], pinned[name])


@pytest.mark.parametrize("name", [b for b in BUILDS if b not in MODEL_BUILDS])
def test_the_cpu_default_writes_the_same_bytes_with_other_simd_kernels(tmp_path, tiny, pinned, name):
    """OpenCV picks SIMD kernels by CPU; with its optimised kernels off it runs other code, as on a CPU
    unlike this one. The CPU default's pixels must not depend on which (its INTER_CUBIC did)."""
    import cv2
    cv2.setUseOptimized(False)
    try:
        got = run_all(str(tmp_path), tiny, only={name})[name]
    finally:
        cv2.setUseOptimized(True)
    assert_pinned(name, got, pinned[name])


if __name__ == "__main__":  # re-record (only for a change meant to alter output bytes)
    import tempfile

    from tiny_models import tiny_models
    with tempfile.TemporaryDirectory() as tmp:
        digests = run_all(os.path.join(tmp, "r"), tiny_models(os.path.join(tmp, "m")))
    assert sorted(digests) == sorted(BUILDS)
    with open(PINNED, "w") as f:
        json.dump(digests, f, indent=1, sort_keys=True)
        f.write("\n")
    print(f"recorded {sum(len(v) for v in digests.values())} files of {len(digests)} builds -> {PINNED}")
