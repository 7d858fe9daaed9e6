"""Scale-out paths: slices of the shard plan as separate processes, and Beam's portable runner."""
from __future__ import annotations

import glob
import os
import socket
import subprocess
import sys
import time

import pytest

from configs.schema import ConfigError
from helpers import DEMO_CONFIG, ROOT, demo_config
from pipelines.run import parse_slice, run_build

CLI = [sys.executable, "-m", "pipelines.cli"]


def _files(out: str) -> dict[str, bytes]:
    paths = sorted(glob.glob(f"{out}/shards/*") + glob.glob(f"{out}/rejects/*") + glob.glob(f"{out}/plan/*"))
    return {os.path.relpath(p, out): open(p, "rb").read() for p in paths}


@pytest.mark.parametrize("text, env, expected", [
    (None, {}, (0, 1)),
    ("2/5", {}, (2, 5)),
    (None, {"SLURM_ARRAY_TASK_ID": "3", "SLURM_ARRAY_TASK_COUNT": "4"}, (3, 4)),
    (None, {"SLURM_ARRAY_TASK_ID": "4", "SLURM_ARRAY_TASK_COUNT": "4", "SLURM_ARRAY_TASK_MIN": "1"}, (3, 4)),
    ("1/2", {"SLURM_ARRAY_TASK_ID": "3", "SLURM_ARRAY_TASK_COUNT": "4"}, (1, 2)),
])
def test_parse_slice(text, env, expected):
    assert parse_slice(text, env) == expected


@pytest.mark.parametrize("text", ["3/3", "a/b", "1", "-1/2"])
def test_bad_slices_are_user_errors(text):
    with pytest.raises(ConfigError, match="--slice"):
        parse_slice(text, {})


def test_two_slices_as_separate_processes_build_the_same_output_as_one_run(tmp_path):
    args = ["--config", DEMO_CONFIG, "--set", "source.shard_size=2"]
    out, ref = str(tmp_path / "sliced"), str(tmp_path / "ref")
    procs = [subprocess.Popen([*CLI, "build", *args, "--output", out, "--slice", f"{i}/2"], cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(2)]
    for p in procs:
        stdout, stderr = p.communicate(timeout=300)
        assert p.returncode == 0, stderr
        assert "when every slice is, run: inpaint-pairs report" in stdout
    tars = {os.path.basename(p) for p in glob.glob(f"{out}/shards/*.tar")}
    assert tars == {f"{k:06d}.tar" for k in range(4)}
    assert not os.path.exists(f"{out}/report.json")  # slices never write the shared report
    run_build(demo_config("source.shard_size=2"), ref, [], log=lambda *_: None)
    assert _files(out) == _files(ref)


def test_a_slice_rerun_skips_its_finished_shards(tmp_path):
    out = str(tmp_path / "o")
    cfg = demo_config("source.shard_size=2")
    run_build(cfg, out, [], log=lambda *_: None, part=(1, 2))
    assert sorted(os.path.basename(p) for p in glob.glob(f"{out}/shards/*.tar")) == ["000001.tar", "000003.tar"]
    lines = []
    run_build(cfg, out, [], log=lines.append, part=(1, 2))
    assert "2 already done, 0 to build" in lines[0]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_portable_runner_with_an_external_worker_pool_gives_the_same_bytes(demo_build, tmp_path):
    port = _free_port()
    env = {**os.environ, "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"]}
    pool = subprocess.Popen([sys.executable, "-m", "apache_beam.runners.worker.worker_pool_main",
                             f"--service_port={port}"], env=env, cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.2)
        out = str(tmp_path / "portable")
        run_build(demo_config(), out, ["--runner=PortableRunner", "--job_endpoint=embed",
                                       "--environment_type=EXTERNAL", f"--environment_config=localhost:{port}"],
                  log=lambda *_: None)
    finally:
        pool.kill()
        pool.wait()
    assert _files(out) == _files(demo_build[0])


def test_local_runs_go_in_waves_of_shards_and_remote_runs_in_one():
    from pipelines.run import pipeline_options, waves
    todo = list(range(10))
    assert waves(todo, pipeline_options([]), 100, 1000) == [todo]
    assert waves(todo, pipeline_options([]), 100, 300) == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]
    assert waves(todo, pipeline_options(["--direct_num_workers=2"]), 100, 100) == [todo[:4], todo[4:8], todo[8:]]
    assert waves(todo, pipeline_options(["--runner=DataflowRunner"]), 100, 100) == [todo]


def test_many_waves_give_the_same_bytes_as_one(tmp_path):
    cfg = demo_config("source.shard_size=1")
    one, many = str(tmp_path / "one"), str(tmp_path / "many")
    run_build(cfg, one, [], log=lambda *_: None)
    run_build(cfg, many, [], log=lambda *_: None, wave_images=1)  # 7 shards, 2 per wave
    assert _files(one) == _files(many)
