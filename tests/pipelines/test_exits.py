"""Every stop is one message with a code (issue 18 item 8, the parts built): Ctrl-C 130, SIGTERM 143, a
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
