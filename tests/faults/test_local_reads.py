"""Local files through an untrusted table, and unbounded reads: a URL table's file://
rows, absolute paths and paths leaving its folder are rejects unless source.allow_local_files; every read
is bounded by image.fetch.max_bytes and reads regular files only (a FIFO, /dev/zero, a folder are
load/not_a_file, never a hang or a MemoryError)."""
from __future__ import annotations

import os
import tarfile
import threading

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from configs.schema import FetchConfig, ImageConfig, SourceConfig
from faults.kit import CocoSet, assert_accounting, build, encode, image_key, outcomes, scene
from transforms.core.fetch import FetchError, member_uri, read_uri
from transforms.core.records import ImageRecord, Reject
from transforms.sources import plan_source
from transforms.stages.load import load_image

SMALL = FetchConfig(max_bytes=64 * 1024)


def _read_within(uri: str, cfg: FetchConfig, seconds: float = 5.0):
    """read_uri in a thread: a hang fails the test instead of holding the suite."""
    result: list = []

    def run():
        try:
            result.append(read_uri(uri, cfg))
        except FetchError as e:
            result.append(e)
    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(seconds)
    assert result, f"read_uri({uri!r}) still reading after {seconds} s"
    return result[0]


@pytest.mark.parametrize("make", ["fifo", "dev_zero", "file_dev_zero"])
def test_what_is_not_a_regular_file_is_not_a_file(tmp_path, make):
    uri = {"fifo": str(tmp_path / "x.jpg"), "dev_zero": "/dev/zero",
           "file_dev_zero": "file:///dev/zero"}[make]
    if make == "fifo":
        os.mkfifo(uri)
    got = _read_within(uri, SMALL)
    assert isinstance(got, FetchError) and got.reason == "not_a_file", got


def test_a_local_file_over_max_bytes_is_too_large_and_one_at_the_limit_is_read(tmp_path):
    big, ok = tmp_path / "big.jpg", tmp_path / "ok.jpg"
    big.write_bytes(b"\xff\xd8\xff" + b"0" * SMALL.max_bytes)
    ok.write_bytes(b"1" * SMALL.max_bytes)
    assert _read_within(str(big), SMALL).reason == "too_large"
    assert _read_within(f"file://{big}", SMALL).reason == "too_large"
    assert _read_within(str(ok), SMALL) == ok.read_bytes()


def test_a_tar_member_over_max_bytes_is_too_large(tmp_path):
    path = tmp_path / "s.tar"
    src = tmp_path / "m.jpg"
    src.write_bytes(b"2" * (SMALL.max_bytes + 1))
    with tarfile.open(path, "w") as tar:
        tar.add(src, "m.jpg")
    with tarfile.open(path) as tar:
        m = tar.getmember("m.jpg")
    assert _read_within(member_uri(str(path), m.offset_data, m.size), SMALL).reason == "too_large"
    cfg = FetchConfig(max_bytes=m.size)
    assert _read_within(member_uri(str(path), m.offset_data, m.size), cfg) == src.read_bytes()


def _table(folder, urls: list[str]) -> str:
    path = os.path.join(folder, "table", "part-0.parquet")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    pq.write_table(pa.table({"url": urls, "caption": ["a red apple"] * len(urls)}), path)
    return path


def test_a_url_table_reads_only_inside_its_folder_unless_allowed(tmp_path):
    jpg = encode(scene())
    (tmp_path / "outside.jpg").write_bytes(jpg)
    (tmp_path / "table" / "imgs").mkdir(parents=True)
    (tmp_path / "table" / "imgs" / "in.jpg").write_bytes(jpg)
    urls = ["imgs/in.jpg", "../outside.jpg", "imgs/../../outside.jpg", str(tmp_path / "outside.jpg"),
            f"file://{tmp_path}/outside.jpg", "file:///etc/passwd", "file:///dev/zero", "/dev/zero"]
    path = _table(str(tmp_path), urls)

    def loaded(**kw):
        cfg = SourceConfig(kind="url_table", annotations=path, name="t", vocabulary="none", **kw)
        entries = [e for shard in plan_source(cfg) for e in shard]
        return [load_image(e.to_record(0), ImageConfig(size=64, fetch=SMALL)) for e in entries]

    got = loaded()
    assert isinstance(got[0], ImageRecord)
    assert all(isinstance(r, Reject) and (r.stage, r.reason) == ("read", "local_path_refused") for r in got[1:])
    opted = loaded(allow_local_files=True)
    assert all(isinstance(r, ImageRecord) for r in opted[:5])
    assert [(r.stage, r.reason) for r in opted[5:]] == [("load", "not_an_image"), ("load", "not_a_file"),
                                                        ("load", "not_a_file")]


def test_a_fifo_in_the_images_folder_is_a_reject_and_the_build_ends(tmp_path):
    coco = CocoSet(tmp_path / "in")
    ok = coco.add(encode(scene()))
    fifo = coco.add(None, "fifo.jpg")
    os.mkfifo(os.path.join(coco.images_dir, "fifo.jpg"))
    out = str(tmp_path / "out")
    report = build(coco, out)
    assert_accounting(out, report)
    got = outcomes(out)
    assert got[image_key(fifo)] == "load/not_a_file"
    assert [k for k, v in got.items() if v == "pair"][0].startswith(image_key(ok))
