"""One writer per output (a lease with an exclusive create), and a plan tied to its
inputs (a changed input is never built half old, half new; ``--replan`` rebuilds only what changed).

Real processes where it matters: ``python -m pipelines.cli build`` subprocesses racing for one output, a
live ``sleep`` standing for a holder that is still running, a killed one for a holder that is gone."""
from __future__ import annotations

import datetime
import glob
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time

import pytest

from configs.schema import load_config
from helpers import DEMO_CONFIG, DEMO_DATA, ROOT
from pipelines import lock
from pipelines.run import run_build
from transforms.core import fileio

CLI = [sys.executable, "-m", "pipelines.cli"]


def _cli(*args: str, wait: bool = True, **kw):
    run = subprocess.run if wait else subprocess.Popen
    extra = {"capture_output": True} if wait else {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
    return run([*CLI, *args], cwd=ROOT, text=True, **extra, **kw)


def _outputs(out: str) -> dict[str, bytes]:
    paths = sorted(glob.glob(f"{out}/shards/*") + glob.glob(f"{out}/rejects/*") + glob.glob(f"{out}/plan/0*"))
    return {os.path.relpath(p, out): open(p, "rb").read() for p in paths}


def _lease(out: str, name: str = lock.WHOLE, **fields) -> str:
    os.makedirs(out, exist_ok=True)
    lease = {"host": socket.gethostname(), "pid": os.getpid(), "command": "inpaint-pairs build (test)",
             "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"), **fields}
    with open(os.path.join(out, name), "w") as f:
        json.dump(lease, f)
    return os.path.join(out, name)


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> str:
    out = str(tmp_path_factory.mktemp("ref") / "out")
    run_build(load_config(DEMO_CONFIG, ["source.shard_size=2"]), out, [], log=lambda *_: None)
    return out


def test_exclusive_create_lets_exactly_one_of_many_racers_win(tmp_path):
    path, wins = str(tmp_path / "lease.json"), []
    start = threading.Barrier(8)

    def racer(i):
        start.wait()
        if fileio.create_exclusive(path, f"racer {i}".encode()):
            wins.append(i)
    threads = [threading.Thread(target=racer, args=(i,)) for i in range(8)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert len(wins) == 1 and open(path).read() == f"racer {wins[0]}"


def test_a_live_holder_stops_a_second_build_with_one_message_and_a_dead_one_is_taken_over(tmp_path, reference):
    out = str(tmp_path / "out")
    holder = subprocess.Popen(["sleep", "120"])
    try:
        _lease(out, pid=holder.pid)
        r = _cli("build", "--config", DEMO_CONFIG, "--output", out, "--set", "source.shard_size=2")
        assert r.returncode == 2 and "Traceback" not in r.stderr
        assert f"is being written by another run: inpaint-pairs build (test) by pid {holder.pid}" in r.stderr
        assert "--wait" in r.stderr and not os.path.exists(f"{out}/config.yaml")   # nothing touched
    finally:
        holder.kill()
        holder.wait()
    r = _cli("build", "--config", DEMO_CONFIG, "--output", out, "--set", "source.shard_size=2")
    assert r.returncode == 0, r.stderr
    assert f"lock: taking over lock.json of inpaint-pairs build (test) by pid {holder.pid}" in r.stdout
    assert f"pid {holder.pid} is not running" in r.stdout
    assert _outputs(out) == _outputs(reference) and not os.path.exists(f"{out}/lock.json")   # released


def test_a_lease_from_another_host_is_taken_over_only_after_the_timeout(tmp_path):
    out, lines = str(tmp_path / "out"), []
    cfg = load_config(DEMO_CONFIG, ["source.shard_size=4"])
    _lease(out, host="gpu-node-7", pid=1)
    with pytest.raises(Exception, match="by pid 1 on gpu-node-7"):
        run_build(cfg, out, [], log=lines.append)
    old = (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=30)).isoformat()
    _lease(out, host="gpu-node-7", pid=1, started=old)
    run_build(cfg, out, [], log=lines.append, lock_timeout=24)
    assert any("taking over lock.json" in line and "30.0 h old (--lock-timeout 24 h)" in line for line in lines)


def test_a_second_build_waits_with_wait_and_both_give_the_same_bytes(tmp_path):
    """Two real builds into one output: the second, with --wait, starts once the first has released its
    lease and finds every shard finished; the bytes are those of either alone."""
    ann = os.path.join(tmp_path, "many.json")
    coco = json.load(open(os.path.join(DEMO_DATA, "instances.json")))
    n = len(coco["images"])
    coco["images"] += [{**im, "id": im["id"] + 1000 * k} for k in range(1, 6) for im in coco["images"][:n]]
    coco["annotations"] += [{**a, "id": a["id"] + 1000 * k, "image_id": a["image_id"] + 1000 * k}
                            for k in range(1, 6) for a in coco["annotations"][:len(coco["annotations"])]]
    json.dump(coco, open(ann, "w"))
    args = ["build", "--config", DEMO_CONFIG, "--output", str(tmp_path / "out"), "--set", f"source.annotations={ann}",
            "--set", f"source.images={DEMO_DATA}/images", "--set", "source.shard_size=6"]
    first = _cli(*args, wait=False)
    deadline = time.time() + 60
    while not os.path.exists(tmp_path / "out" / "lock.json") and time.time() < deadline:
        time.sleep(0.05)
    second = _cli(*args, "--wait")
    out1, err1 = first.communicate(timeout=300)
    assert first.returncode == 0 and second.returncode == 0, (err1, second.stderr)
    assert f"lock: waiting for inpaint-pairs build --config" in second.stdout and f"by pid {first.pid}" in second.stdout
    assert "0 to build" in second.stdout
    once = str(tmp_path / "once")
    run_build(load_config(DEMO_CONFIG, [f"source.annotations={ann}", f"source.images={DEMO_DATA}/images",
                                        "source.shard_size=6"]), once, [], log=lambda *_: None)
    assert _outputs(str(tmp_path / "out")) == _outputs(once)


def test_slices_run_side_by_side_and_a_whole_build_waits_for_them(tmp_path, reference):
    out = str(tmp_path / "out")
    slices = [_cli("build", "--config", DEMO_CONFIG, "--output", out, "--set", "source.shard_size=2",
                   "--slice", f"{i}/2", wait=False) for i in range(2)]
    results = [(p.wait(timeout=300), p.communicate()) for p in slices]
    assert all(code == 0 for code, _ in results), results
    assert _cli("report", out).returncode == 0
    assert _outputs(out) == _outputs(reference)
    holder = subprocess.Popen(["sleep", "120"])
    try:
        _lease(out, lock.lease_name((1, 2)), pid=holder.pid)
        r = _cli("build", "--config", DEMO_CONFIG, "--output", out, "--set", "source.shard_size=2")
        assert r.returncode == 2 and f"by pid {holder.pid}" in r.stderr and "lock-slice-1-of-2.json" in r.stderr
        r = _cli("report", out)
        assert r.returncode == 2 and f"by pid {holder.pid}" in r.stderr   # a report writes: it waits its turn too
        r = _cli("build", "--config", DEMO_CONFIG, "--output", out, "--set", "source.shard_size=2", "--slice", "0/2")
        assert r.returncode == 0 and "2 already done, 0 to build" in r.stdout   # slices never block each other
    finally:
        holder.kill()
        holder.wait()


def _grown_coco(folder: str, extra: int) -> str:
    """The demo annotations with ``extra`` more images (copies of the last ones under new, higher ids)."""
    coco = json.load(open(os.path.join(DEMO_DATA, "instances.json")))
    last = coco["images"][-extra:]
    coco["images"] += [{**im, "id": im["id"] + 100} for im in last]
    coco["annotations"] += [{**a, "id": a["id"] + 100, "image_id": a["image_id"] + 100}
                            for a in coco["annotations"] if a["image_id"] in {im["id"] for im in last}]
    path = os.path.join(folder, "instances.json")
    json.dump(coco, open(path, "w"))
    return path


def test_inputs_that_changed_stop_a_rerun_and_replan_rebuilds_only_the_changed_shards(tmp_path):
    """A changed input: the annotation file gains images between a run and its rerun (same config text)."""
    ann = os.path.join(tmp_path, "instances.json")
    shutil.copy(os.path.join(DEMO_DATA, "instances.json"), ann)
    sets = [f"source.annotations={ann}", f"source.images={DEMO_DATA}/images", "source.shard_size=2"]
    out, lines = str(tmp_path / "out"), []
    run_build(load_config(DEMO_CONFIG, sets), out, [], log=lambda *_: None)   # 7 images: shards 0-3
    before = _outputs(out)
    time.sleep(0.01)
    _grown_coco(str(tmp_path), 2)   # 9 images: shard 3 gains one, shard 4 is new
    r = _cli("build", "--config", DEMO_CONFIG, "--output", out, *[a for s in sets for a in ("--set", s)])
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert f"was planned from other inputs: source.annotations {ann}:" in r.stderr
    assert "2 of 5 shards of the new plan differ (1 of them finished)" in r.stderr and "--replan" in r.stderr
    assert _outputs(out) == before   # refused before touching anything
    run_build(load_config(DEMO_CONFIG, sets), out, [], log=lines.append, replan=True)
    assert any("--replan: 2 shard(s) planned again and rebuilt, 3 finished shard(s) kept" in line for line in lines)
    assert any("3 already done, 2 to build" in line for line in lines)
    clean = str(tmp_path / "clean")
    report = run_build(load_config(DEMO_CONFIG, sets), clean, [], log=lambda *_: None)
    assert _outputs(out) == _outputs(clean)
    assert json.load(open(f"{out}/report.json")) == report and report["images_in"] == 9
    assert {k: v for k, v in before.items() if not k.split("/")[1].startswith("000003")} == \
        {k: v for k, v in _outputs(out).items() if k in before and not k.split("/")[1].startswith("000003")}


def test_a_changed_input_with_no_finished_shard_is_planned_again(tmp_path):
    ann = os.path.join(tmp_path, "instances.json")
    shutil.copy(os.path.join(DEMO_DATA, "instances.json"), ann)
    sets = [f"source.annotations={ann}", f"source.images={DEMO_DATA}/images", "source.shard_size=2"]
    out, lines = str(tmp_path / "out"), []
    run_build(load_config(DEMO_CONFIG, sets), out, [], log=lambda *_: None)
    for stats in glob.glob(f"{out}/shards/*.stats.json"):   # as if killed before any shard committed
        os.remove(stats)
    _grown_coco(str(tmp_path), 2)
    report = run_build(load_config(DEMO_CONFIG, sets), out, [], log=lines.append)
    assert any("no shard was finished: planned again (2 shard(s) changed)" in line for line in lines)
    assert report["images_in"] == 9 and report["lost_images"] == [] and report["shards_missing"] == []
