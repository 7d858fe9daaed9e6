"""Hostile names and files: nothing written leaves the output folder or carries a separator or a dot in a
key; files outside source.images are never read; unrelated files in the output folder survive; config
YAML is safe-loaded; model code never trusts remote code or unpickles checkpoints unless configured."""
from __future__ import annotations

import ast
import glob
import os
import re
import tarfile

import pytest

from configs.schema import ConfigError, load_config
from faults.kit import CocoSet, assert_accounting, build, disc_ann, encode, outcomes, scene
from helpers import ROOT
from pipelines import outputs
from pipelines.plan import planned_shards, read_entries

SAFE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
MEMBER = re.compile(r"^[A-Za-z0-9_-]+\.(source\.jpg|target\.jpg|mask\.png|txt|json)$")
EVIL_IDS = ["../../escape", "a/b.c", "/etc/passwd", "..", "\\..\\win", "ü.ß/名", "x" * 300, "-", "_-_"]
EVIL_FILES = {"up_one": "../outside.jpg", "absolute": None, "climb_back": "sub/../../outside.jpg",
              "url": "http://127.0.0.1:1/x.jpg"}
UNRELATED = {"notes.txt": b"mine", "shards/README.md": b"mine", "shards/000000.tar.bak": b"mine",
             "shards/.tmp-notes.txt": b"mine", "rejects/mine.parquet": b"mine", "plan/notes.json": b"{}"}
LOOKALIKE = "shards/.tmp-mine-000000-notes.txt"  # named like our temporary files, but not one of them


def _tree(root: str, skip: str) -> dict[str, bytes]:
    files = {}
    for folder, _, names in os.walk(root):
        for n in names:
            p = os.path.join(folder, n)
            if not p.startswith(skip + os.sep):
                files[p] = open(p, "rb").read()
    return files


@pytest.fixture(scope="module")
def hostile_build(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("hostile"))
    coco, ids = CocoSet(os.path.join(root, "in"), [{"id": 1, "name": "../../evil/cat.name"}]), {}
    jpg = encode(scene())
    with open(os.path.join(root, "in", "outside.jpg"), "wb") as f:  # readable, but not under images/
        f.write(jpg)
    EVIL_FILES["absolute"] = os.path.join(root, "in", "outside.jpg")
    for image_id in EVIL_IDS:
        ids[image_id] = coco.add(jpg, f"{len(ids)}.jpg", image_id=image_id,
                                 anns=[disc_ann("../../1", None), disc_ann("x.y/z", None)])
    for name, file_name in EVIL_FILES.items():
        ids[name] = coco.add(None, file_name, image_id=name)
    os.makedirs(os.path.join(coco.images_dir, "sub"))
    ids["subfolder"] = coco.add(jpg, "sub/ok.jpg", image_id="subfolder")
    out = os.path.join(root, "out")
    for rel, data in {**UNRELATED, LOOKALIKE: b"mine"}.items():
        os.makedirs(os.path.dirname(os.path.join(out, rel)), exist_ok=True)
        with open(os.path.join(out, rel), "wb") as f:
            f.write(data)
    coco.write()
    before = _tree(root, out)
    report = build(coco, out)
    return out, report, ids, root, before


def test_accounting_holds(hostile_build):
    out, report, *_ = hostile_build
    assert_accounting(out, report)


def test_tar_members_are_plain_files_named_key_dot_member(hostile_build):
    out = hostile_build[0]
    names = []
    for path in glob.glob(f"{out}/shards/*.tar"):
        with tarfile.open(path) as tar:
            for m in tar.getmembers():
                assert m.isfile() and MEMBER.match(m.name), m.name
                names.append(m.name)
    assert len(names) >= 5 * 6, "the hostile ids should still give pairs"


def test_every_key_written_anywhere_is_safe(hostile_build):
    out = hostile_build[0]
    keys = set(outcomes(out))
    keys |= {e.key for k in planned_shards(out) for e in read_entries(out, k)}
    assert keys and all(SAFE_KEY.match(k) and len(k) < 400 for k in keys), sorted(keys)


def test_nothing_outside_the_output_folder_changed(hostile_build):
    out, _, _, root, before = hostile_build
    assert _tree(root, out) == before


def test_file_names_leaving_the_images_folder_are_never_read(hostile_build):
    out, _, ids, _, _ = hostile_build
    got = outcomes(out)
    for name in EVIL_FILES:
        assert got[f"f-{ids[name]}"] == "read/bad_file_name", name
    assert got["f-subfolder-subfolder0"] == "pair"


def test_the_category_name_goes_into_text_only(hostile_build):
    out = hostile_build[0]
    pair = next(iter(outputs.iter_samples(out, outputs.finished_shards(out)[0])))
    assert pair["txt"] == b"add a ../../evil/cat.name"


def test_unrelated_files_in_the_output_folder_survive(hostile_build):
    out = hostile_build[0]
    for rel, data in UNRELATED.items():
        assert open(os.path.join(out, rel), "rb").read() == data, rel


def test_a_user_file_named_like_our_temporary_files_survives(hostile_build):
    assert os.path.exists(os.path.join(hostile_build[0], LOOKALIKE))


def test_source_name_cannot_carry_a_path():
    for name in ("../x", "a/b", "a.b", ""):
        with pytest.raises(ConfigError, match="source.name"):
            load_config(None, [f"source.name={name}"])


UNSAFE_YAML = "source:\n  name: !!python/object/apply:os.system ['touch {sentinel}']\n"


def test_a_config_file_is_safe_loaded(tmp_path):
    sentinel = tmp_path / "pwned"
    path = tmp_path / "evil.yaml"
    path.write_text(UNSAFE_YAML.format(sentinel=sentinel))
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(str(path))
    assert not sentinel.exists()


def test_a_set_value_is_safe_loaded(tmp_path):
    sentinel = tmp_path / "pwned"
    with pytest.raises(Exception):  # noqa: B017 - which error is test_clear_errors' business; no code runs
        load_config(None, [f"source.name=!!python/object/apply:os.system ['touch {sentinel}']"])
    assert not sentinel.exists()


# ---- model code: remote code and pickled checkpoints ------------------------------------------------------
def _project_calls(folders=("model_wrappers", "transforms", "pipelines", "configs")):
    for folder in folders:
        for path in sorted(glob.glob(os.path.join(ROOT, folder, "**", "*.py"), recursive=True)):
            tree = ast.parse(open(path).read(), path)
            for node in ast.walk(tree):
                if isinstance(node, ast.Call):
                    yield os.path.relpath(path, ROOT), node


def _name(call: ast.Call) -> str:
    f = call.func
    return f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")


def _kw(call: ast.Call, name: str):
    return next((k.value for k in call.keywords if k.arg == name), None)


def test_remote_code_is_never_trusted_by_a_literal():
    """Every ``trust_remote_code=`` in the project takes its value from the config, never a literal True."""
    seen = 0
    for path, call in _project_calls():
        value = _kw(call, "trust_remote_code")
        if value is not None:
            seen += 1
            assert not (isinstance(value, ast.Constant) and value.value is True), f"{path}:{call.lineno}"
    assert seen >= 4, "the transformers-based wrappers pass trust_remote_code from their config"


def test_the_config_does_not_trust_remote_code_by_default():
    from configs.schema import ModelConfig
    assert ModelConfig().trust_remote_code is False


def test_checkpoints_are_loaded_with_weights_only_and_nothing_is_unpickled():
    for path, call in _project_calls():
        name = _name(call)
        owner = getattr(getattr(call.func, "value", None), "id", "")
        if name == "load" and owner == "torch":
            value = _kw(call, "weights_only")
            assert isinstance(value, ast.Constant) and value.value is True, f"{path}:{call.lineno} torch.load"
        assert not (name in ("load", "loads") and owner in ("pickle", "dill", "cloudpickle")), \
            f"{path}:{call.lineno} unpickles"
        assert name not in ("unsafe_load", "full_load"), f"{path}:{call.lineno} unsafe YAML"
        if name == "load" and owner == "yaml":
            assert "Safe" in ast.unparse(call), f"{path}:{call.lineno} yaml.load without SafeLoader"
        assert name not in ("eval", "exec") or isinstance(call.func, ast.Attribute), f"{path}:{call.lineno}"
