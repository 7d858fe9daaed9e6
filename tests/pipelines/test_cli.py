"""The command line as a user runs it: subprocesses, exit codes, messages, kills and resumes."""
from __future__ import annotations

import glob
import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest

from helpers import DEMO_CONFIG, DEMO_DATA, ROOT

CLI = [sys.executable, "-m", "pipelines.cli"]


def _run(*args: str, cwd: str = ROOT, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout)


def _files(out: str) -> dict[str, bytes]:
    paths = sorted(glob.glob(f"{out}/shards/*") + glob.glob(f"{out}/rejects/*"))
    return {os.path.relpath(p, out): open(p, "rb").read() for p in paths}


@pytest.mark.parametrize("args, words", [
    (["--set", "filters.bogus=1"], ["filters.bogus", "min_area_ratio"]),
    (["--set", "removal.method=magic"], ["removal.method", "telea"]),
    (["--set", "source.annotations=/nope/instances.json"], ["/nope/instances.json", "not found"]),
    (["--set", "source.images=/nope/images"], ["/nope/images", "not found"]),
    (["--set", "masks.kind=psychic"], ["masks.kind", "annotations"]),
])
def test_user_errors_stop_before_any_work_with_one_message(tmp_path, args, words):
    out = tmp_path / "out"
    r = _run("build", "--config", DEMO_CONFIG, "--output", str(out), *args)
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr and r.stderr.startswith("inpaint-pairs: error:")
    for w in words:
        assert w in r.stderr
    assert not out.exists() or not glob.glob(f"{out}/shards/*")


def test_unwritable_output_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    r = _run("build", "--config", DEMO_CONFIG, "--output", str(blocker / "out"))
    assert r.returncode == 2 and "not writable" in r.stderr and "Traceback" not in r.stderr


def test_build_prints_progress_and_the_funnel_and_exits_0(tmp_path):
    r = _run("build", "--config", DEMO_CONFIG, "--output", str(tmp_path / "o"), "--set", "source.shard_size=2")
    assert r.returncode == 0, r.stderr
    assert "plan: 7 images in 4 shards" in r.stdout
    assert "funnel: 7 images in" in r.stdout and "filter" in r.stdout and "iscrowd=1" in r.stdout
    assert len(glob.glob(f"{tmp_path}/o/shards/*.tar")) == 4


def _repeated_demo(folder, times: int) -> str:
    """The demo annotations repeated under new image ids (same photos): a run long enough to kill."""
    coco = json.load(open(os.path.join(DEMO_DATA, "instances.json")))
    images, anns = [], []
    for t in range(times):
        for im in coco["images"]:
            images.append({**im, "id": im["id"] + 1000 * t})
        for a in coco["annotations"]:
            anns.append({**a, "id": a["id"] + 1000 * t, "image_id": a["image_id"] + 1000 * t})
    path = os.path.join(folder, "instances.json")
    json.dump({**coco, "images": images, "annotations": anns}, open(path, "w"))
    return path


def _kill_when(out: str, args: list[str], ready) -> int:
    """Start a build, SIGKILL it once ``ready()`` holds; return the finished shard count at that moment."""
    proc = subprocess.Popen([*CLI, "build", *args, "--output", out], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not ready() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return len(glob.glob(f"{out}/shards/*.stats.json"))


def test_sigkill_at_random_moments_then_rerun_equals_an_uninterrupted_run(tmp_path):
    annotations = _repeated_demo(str(tmp_path), 6)
    args = ["--config", DEMO_CONFIG, "--set", f"source.annotations={annotations}",
            "--set", "source.shard_size=3"]  # 42 images, 14 shards
    ref = str(tmp_path / "ref")
    assert _run("build", *args, "--output", ref).returncode == 0
    out = str(tmp_path / "killed")
    stats = lambda: len(glob.glob(f"{out}/shards/*.stats.json"))  # noqa: E731
    # once mid-write (the first shard has just committed), then at random moments of the next runs
    done = _kill_when(out, args, lambda: stats() >= 1)
    assert 0 < done < 14, "the first kill should land while shards are being written"
    rng = random.Random(1234)
    for _ in range(2):
        start, delay = time.time(), rng.uniform(1.0, 8.0)
        _kill_when(out, args, lambda: time.time() - start > delay)
        for path in glob.glob(f"{out}/shards/*.tar"):  # every file under a final name is whole
            subprocess.run(["tar", "tf", path], check=True, capture_output=True)
    done_before = {p: os.stat(p).st_mtime_ns for p in glob.glob(f"{out}/shards/*.stats.json")}
    r = _run("build", *args, "--output", out)
    assert r.returncode == 0, r.stderr
    assert _files(out) == _files(ref)
    assert not glob.glob(f"{out}/*/.tmp-*")
    for p, mtime in done_before.items():  # finished shards were not recomputed
        assert os.stat(p).st_mtime_ns == mtime
