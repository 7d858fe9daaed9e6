"""Every stop is one message with a code: Ctrl-C 130, SIGTERM 143, a
full disk 1 (path and free space), a read-only output 2 -- also when a runner wraps the OSError -- and a
SIGTERM'd build resumes to the same result."""
from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys

from helpers import ROOT
from pipelines import exits


def test_each_stop_has_its_code_and_one_message(tmp_path):
    assert exits.message(KeyboardInterrupt()) == (130, "stopped (Ctrl-C); rerun the same command to resume")
    assert exits.message(exits.Terminated())[0] == 143
    full = OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "shards" / "x.tar"))
    code, text = exits.message(full, str(tmp_path))
    assert code == 1 and "x.tar" in text and "MiB free" in text and "\n" not in text
    try:                                     # as a runner re-raises a worker's error: text only
        raise RuntimeError(f"BeamIOError: [Errno 28] No space left on device: '{tmp_path}/y.tar'")
    except RuntimeError as e:
        assert exits.message(e)[0] == 1 and "y.tar" in exits.message(e)[1]
    try:
        try:
            raise OSError(errno.EROFS, "Read-only file system", "/ro/out/plan")
        except OSError as inner:
            raise RuntimeError("wrapped") from inner
    except RuntimeError as e:
        assert exits.message(e) == (2, "/ro/out/plan is read-only; choose a writable --output (or fix its "
                                       "permissions) and run again")
    assert exits.message(ValueError("a bug")) is None


def test_a_sigtermed_build_says_so_and_the_rerun_finishes(tmp_path):
    out = str(tmp_path / "out")
    cmd = [sys.executable, "-m", "pipelines.cli", "demo", "--output", out]
    env = {**os.environ, "PYTHONPATH": ROOT, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for line in proc.stdout:                 # planned: the handlers are in place and the shards not yet built
        if line.startswith("plan:"):
            break
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    if proc.returncode == 0:                 # finished before the signal on a fast machine: nothing to test
        raise AssertionError("the demo build ended before the signal arrived")
    assert proc.returncode == 143, err
    assert "Traceback" not in err and "stopped (SIGTERM); rerun the same command to resume" in err
    again = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    report = json.load(open(os.path.join(out, "report.json")))
    assert report["shards_done"] == report["shards_planned"] and report["lost_images"] == []
    assert not [n for n in os.listdir(os.path.join(out, "shards")) if n.startswith(".tmp-")]


def _ours(out: str) -> list[str]:
    return sorted(os.path.join(d, n) for d, _, names in os.walk(out) for n in names if n.startswith(".tmp-"))


def _tars(out: str) -> dict[str, bytes]:
    folder = os.path.join(out, "shards")
    return {n: open(os.path.join(folder, n), "rb").read() for n in sorted(os.listdir(folder)) if n.endswith(".tar")}


def test_a_build_that_stops_on_an_error_removes_its_temporaries_and_the_rerun_is_a_clean_build(tmp_path,
                                                                                              monkeypatch):
    """The disk fills while the second shard is written: its part files (the samples' tar blocks) were on
    the disk already. The failed run deletes them; the first shard stays committed."""
    from configs.schema import load_config
    from helpers import DEMO_CONFIG
    from pipelines import build
    from pipelines.run import run_build
    clean, out = str(tmp_path / "clean"), str(tmp_path / "out")
    sets = ["source.shard_size=3"]
    run_build(load_config(DEMO_CONFIG, sets), clean, [], log=lambda *_: None)
    real = build.write_shard

    def full_at_shard_1(out_, shard, *args, **kwargs):
        if shard == 1:
            assert [p for p in _ours(out_) if p.endswith("-000001.part")], "shard 1's parts were not written"
            raise OSError(errno.ENOSPC, "No space left on device", os.path.join(out_, "shards", "000001.tar"))
        return real(out_, shard, *args, **kwargs)
    monkeypatch.setattr(build, "write_shard", full_at_shard_1)
    try:
        run_build(load_config(DEMO_CONFIG, sets), out, [], log=lambda *_: None)
    except Exception as e:   # noqa: BLE001 - the runner may wrap the OSError
        assert exits.message(e, out)[0] == 1, e
    else:
        raise AssertionError("the build did not stop on the full disk")
    assert _ours(out) == []
    assert not os.path.exists(os.path.join(out, "lock.json"))
    monkeypatch.setattr(build, "write_shard", real)
    run_build(load_config(DEMO_CONFIG, sets), out, [], log=lambda *_: None)
    assert _tars(out) == _tars(clean) and _ours(out) == []


def _mount_tmpfs(folder: str, size: str) -> bool:
    os.makedirs(folder, exist_ok=True)
    return subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", folder],
                          capture_output=True).returncode == 0


def test_a_demo_build_on_a_really_full_disk_leaves_nothing_of_ours_and_resumes_once_space_is_freed(tmp_path):
    """The same on a real 3 MB file system (tmpfs), through the command a user runs."""
    import pytest
    disk = str(tmp_path / "disk")
    if not _mount_tmpfs(disk, "3m"):
        pytest.skip("mounting a tmpfs needs root (the injected full disk above covers the clean-up)")
    try:
        out = os.path.join(disk, "out")
        cmd = [sys.executable, "-m", "pipelines.cli", "demo", "--output", out]
        env = {**os.environ, "PYTHONPATH": ROOT}
        full = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        assert full.returncode == 1, full.stderr
        assert full.stderr.strip().splitlines()[-1].startswith("inpaint-pairs: disk full"), full.stderr
        assert _ours(out) == []
        subprocess.run(["mount", "-o", "remount,size=64m", disk], check=True)       # space freed
        again = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        assert again.returncode == 0, again.stderr
        clean = str(tmp_path / "clean")
        subprocess.run([*cmd[:-1], clean], cwd=ROOT, env=env, capture_output=True, check=True, timeout=300)
        assert _tars(out) == _tars(clean) and _ours(out) == []
    finally:
        subprocess.run(["umount", "-l", disk], capture_output=True)
