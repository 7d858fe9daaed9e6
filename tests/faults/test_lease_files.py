"""Odd lease files left in an output (a link to nothing, a folder, JSON that is not an object, pids that
name no process) never spin or end in a traceback: an unreadable or impossible lease is taken over with a
note, a folder in its place stops the run with one message naming it; each within seconds."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading

import pytest

from helpers import DEMO_CONFIG, ROOT
from configs.schema import ConfigError
from pipelines import lock

HOST = socket.gethostname()
ODD = {
    "a link to nothing": lambda p: os.symlink(p + ".gone", p),
    "a list": lambda p: open(p, "w").write("[1, 2]"),
    "a string": lambda p: open(p, "w").write('"held"'),
    "pid abc": lambda p: open(p, "w").write(json.dumps({"host": HOST, "pid": "abc", "started": "2026-01-01T00:00:00"})),
    "pid too large": lambda p: open(p, "w").write(json.dumps({"host": HOST, "pid": 999999999999,
                                                               "started": "2026-01-01T00:00:00+00:00"})),
    "pid -1": lambda p: open(p, "w").write(json.dumps({"host": HOST, "pid": -1, "started": "2026-01-01T00:00:00+00:00"})),
}


def _acquire(out: str) -> tuple[object, list[str]]:
    """lock.acquire in a thread that must finish within 20 s (a spinning loop fails the test, not the suite)."""
    lines, result = [], {}

    def take():
        try:
            result["path"] = lock.acquire(out, (0, 1), "build", log=lines.append)
        except Exception as e:  # noqa: BLE001 - the test looks at what it was
            result["error"] = e
    t = threading.Thread(target=take, daemon=True)
    t.start()
    t.join(20)
    assert not t.is_alive(), f"acquire still running after 20 s: {lines}"
    return result.get("error", result.get("path")), lines


@pytest.mark.parametrize("odd", sorted(ODD))
def test_an_odd_lease_is_taken_over_with_a_note(tmp_path, odd):
    out = str(tmp_path / "out")
    os.makedirs(out)
    ODD[odd](os.path.join(out, "lock.json"))
    got, lines = _acquire(out)
    assert got == os.path.join(out, "lock.json"), got
    assert any(line.startswith("lock: taking over lock.json") for line in lines), lines
    assert json.loads(open(got).read())["pid"] == os.getpid()          # ours now
    lock.release(got, json.loads(open(got).read()))
    assert not os.path.lexists(got)


def test_a_folder_in_the_leases_place_stops_with_one_message(tmp_path):
    out = str(tmp_path / "out")
    os.makedirs(os.path.join(out, "lock.json"))
    got, _ = _acquire(out)
    assert isinstance(got, ConfigError) and "lock.json is a folder" in str(got) and "rm -r" in str(got)


def test_a_build_over_a_link_to_nothing_runs_as_a_user_runs_it(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    os.symlink(str(out / "nowhere"), out / "lock.json")
    r = subprocess.run([sys.executable, "-m", "pipelines.cli", "build", "--config", DEMO_CONFIG, "--output",
                        str(out), "--set", "source.limit=2"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr[-800:]
    assert "taking over lock.json" in r.stdout and "the lease file is unreadable" in r.stdout
    assert not os.path.lexists(out / "lock.json")
