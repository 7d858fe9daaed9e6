"""Scale-out paths: slices of the shard plan as separate processes, and Beam's portable runner with two
workers in an external worker pool (the job API and worker protocol of Flink and Spark), also to s3://."""
from __future__ import annotations

import contextlib
import glob
import os
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from configs.schema import ConfigError, load_config
from helpers import DEMO_CONFIG, ROOT, circle_polygon, demo_config, write_coco
from pipelines.run import parse_slice, run_build
from s3 import free_port
from tiny_models import tiny_overrides

PIPE_COCO = os.path.join(ROOT, "configs", "pipe_coco.yaml")

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


@contextlib.contextmanager
def worker_pool(folder: str, env: dict | None = None):
    """Beam's external SDK worker pool (what runs beside a Flink or Spark task manager) on a free port,
    starting each worker the way Beam's container does (tests/beam_boot.py: the pipeline options from the
    provision service); yields the runner flags that send a build to it. Its log is ``folder/pool.log``."""
    port = free_port()
    env = {**os.environ, **(env or {}), "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"]}
    boot = os.path.join(folder, "boot.sh")
    with open(boot, "w") as f:
        f.write(f'#!/bin/sh\nexec "{sys.executable}" "{os.path.join(ROOT, "tests", "beam_boot.py")}" "$@"\n')
    os.chmod(boot, 0o755)
    with open(os.path.join(folder, "pool.log"), "w") as log:
        pool = subprocess.Popen([sys.executable, "-m", "apache_beam.runners.worker.worker_pool_main",
                                 f"--service_port={port}", f"--container_executable={boot}"],
                                env=env, cwd=ROOT, stdout=log, stderr=log)
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.2)
        yield ["--runner=PortableRunner", "--job_endpoint=embed", "--environment_type=EXTERNAL",
               f"--environment_config=localhost:{port}"]
    finally:
        pool.kill()
        pool.wait()


@pytest.fixture
def two_workers(monkeypatch):
    """The embedded job service runs its job with one SDK worker whatever the options say (Beam's
    run_via_runner_api ignores direct_num_workers); a Flink or Spark cluster asks the pool for one per task
    slot. Ask for two, so bundles are spread over two worker processes as on a cluster."""
    from apache_beam.runners.portability.fn_api_runner import fn_runner
    init = fn_runner.FnApiRunner.__init__

    def two(self, *a, **kw):
        init(self, *a, **kw)
        self._num_workers = 2
    monkeypatch.setattr(fn_runner.FnApiRunner, "__init__", two)


def _workers_started(folder: str) -> int:
    return open(os.path.join(folder, "pool.log")).read().count("Starting worker with command")


def test_portable_runner_with_two_pool_workers_gives_the_same_bytes(demo_build, tmp_path, two_workers):
    out = str(tmp_path / "portable")
    with worker_pool(str(tmp_path)) as runner:
        run_build(demo_config(), out, runner, log=lambda *_: None)
    assert _workers_started(str(tmp_path)) == 2
    assert _files(out) == _files(demo_build[0])


def test_pipe_recipe_on_tiny_models_through_the_portable_runner_to_s3_equals_the_local_runner(tiny, s3, tmp_path,
                                                                                            two_workers):
    """The PIPE recipe (tiny diffusion, VLM, LLM, CLIP quality stages) with two pool workers writing to the
    S3-compatible server: the same shard bytes as the local runner writing to a folder (a fifth
    execution, beside tests/pipelines/test_concurrency_e2e.py's four)."""
    rng = np.random.default_rng(3)
    images = {f"{i}.jpg": rng.integers(0, 255, (72, 96, 3), dtype=np.uint8) for i in (1, 2)}
    anns = [{"id": 10 * i, "image_id": i, "category_id": 1, "iscrowd": 0,
             "segmentation": [circle_polygon(40, 36, 14)]} for i in (1, 2)]
    annotations, image_dir = write_coco(str(tmp_path / "coco"), images, anns)
    cfg = load_config(PIPE_COCO, [f"source.annotations={annotations}", f"source.images={image_dir}",
                                  "source.shard_size=1", "image.size=64", "filters.max_border_touch=1",
                                  *tiny_overrides(tiny, masks=None, quality=True), "quality.max_consensus=1",
                                  "quality.max_removal_score=1", "quality.min_class_similarity=-1",
                                  "quality.max_importance=1"])
    local = str(tmp_path / "local")
    assert run_build(cfg, local, [], log=lambda *_: None)["pairs"] == 2
    out = f"s3://{s3.bucket('portable')}/pipe"
    with worker_pool(str(tmp_path), s3.env) as runner:
        run_build(cfg, out, [*runner, *s3.beam_args], log=lambda *_: None)
    assert _workers_started(str(tmp_path)) == 2
    remote = {k: v for k, v in s3.objects(out).items() if k.startswith(("shards/", "rejects/"))}
    mine = {k: v for k, v in _files(local).items() if k.startswith(("shards", "rejects"))}
    assert remote == {k.replace(os.sep, "/"): v for k, v in mine.items()}


def test_local_runs_go_in_waves_of_shards_and_remote_runs_in_one():
    from pipelines.run import pipeline_options, waves
    todo = list(range(10))
    assert waves(todo, pipeline_options([]), 100, 1000) == [todo]
    assert waves(todo, pipeline_options([]), 100, 300) == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]
    assert waves(todo, pipeline_options(["--direct_num_workers=2"]), 100, 100) == [todo[:4], todo[4:8], todo[8:]]
    assert waves(todo, pipeline_options(["--runner=DataflowRunner"]), 100, 100) == [todo]


def test_by_default_a_run_of_20000_images_starts_its_workers_once():
    """With only small records in the runner's memory, the default wave is 20,000 images, so the
    2,000-image benchmark (40 shards of 50) is one pipeline run, and a 1M-image local run is 50 of them."""
    from pipelines.run import WAVE_IMAGES, pipeline_options, waves
    options = pipeline_options(["--direct_num_workers=2"])
    assert waves(list(range(40)), options, 50, WAVE_IMAGES) == [list(range(40))]
    assert len(waves(list(range(1000)), options, 1000, WAVE_IMAGES)) == 50


def test_many_waves_give_the_same_bytes_as_one(tmp_path):
    cfg = demo_config("source.shard_size=1")
    one, many = str(tmp_path / "one"), str(tmp_path / "many")
    run_build(cfg, one, [], log=lambda *_: None)
    run_build(cfg, many, [], log=lambda *_: None, wave_images=1)  # 7 shards, 2 per wave
    assert _files(one) == _files(many)
