"""The output contract on s3://, against a local S3-compatible server (moto, tests/s3.py): a new user's build
from and to s3://, rerun after a kill, slices from separate processes, report, export and the loader. Every
comparison is with the local build of the same config, byte for byte."""
from __future__ import annotations

import glob
import os
import subprocess
import sys

import pyarrow.parquet as pq
import pytest

from helpers import DEMO_CONFIG, DEMO_DATA, ROOT, demo_config
from pipelines import cli
from pipelines.loader import pair_dataset, shard_urls
from pipelines.run import run_build

CLI = [sys.executable, "-m", "pipelines.cli"]
SHIPPED = ("shards/", "rejects/")  # what must equal the local build (plan files name the input's location)


def _local(out: str, prefixes=SHIPPED) -> dict[str, bytes]:
    paths = sorted(p for p in glob.glob(f"{out}/**/*", recursive=True) if os.path.isfile(p))
    found = {os.path.relpath(p, out).replace(os.sep, "/"): open(p, "rb").read() for p in paths}
    return {k: v for k, v in found.items() if k.startswith(prefixes)}


def _remote(s3, url: str, prefixes=SHIPPED) -> dict[str, bytes]:
    return {k: v for k, v in s3.objects(url).items() if k.startswith(prefixes)}


def _temporaries(s3, url: str) -> list[str]:
    return [k for k in s3.objects(url) if os.path.basename(k).startswith(".tmp-")]


@pytest.fixture
def demo_input(s3) -> list[str]:
    """The demo's instances.json and images in a bucket; the --set flags that point a build at them."""
    url = f"s3://{s3.bucket('ipin')}/demo"
    s3.upload_folder(DEMO_DATA, url)
    return ["--set", f"source.annotations={url}/instances.json", "--set", f"source.images={url}/images"]


def test_a_new_users_s3_build_equals_the_local_build_and_leaves_no_temporaries(s3, demo_input, demo_build):
    out = f"s3://{s3.bucket('ipout')}/run"
    assert cli.main(["build", "--config", DEMO_CONFIG, "--output", out, *demo_input,
                     f"--s3_endpoint_url={s3.endpoint}", "--s3_access_key_id=testing",
                     "--s3_secret_access_key=testing", "--s3_region_name=us-east-1"]) == 0
    local = demo_build[0]
    assert _remote(s3, out) == _local(local)
    written = s3.objects(out)
    for name in ("config.yaml", "report.json", "report.html", "rejects.html", "README.md", "plan/000000.json"):
        assert name in written, name
    assert written["report.json"] == open(os.path.join(local, "report.json"), "rb").read()
    assert _temporaries(s3, out) == []


def test_a_killed_s3_run_reruns_to_the_same_bytes_and_clears_its_temporaries(s3, demo_input, demo_build):
    out = f"s3://{s3.bucket('ipout')}/run"
    args = [*demo_input, *s3.beam_args]
    assert cli.main(["build", "--config", DEMO_CONFIG, "--output", out, *args]) == 0
    bucket, prefix = out[len("s3://"):].split("/", 1)
    client = s3.client()
    # what a run killed while writing shard 1 leaves: no commit marker, a cut tar, a temporary of ours
    client.delete_object(Bucket=bucket, Key=f"{prefix}/shards/000001.stats.json")
    client.put_object(Bucket=bucket, Key=f"{prefix}/shards/000001.tar", Body=b"cut short")
    client.put_object(Bucket=bucket, Key=f"{prefix}/shards/.tmp-0123456789ab-000001.parquet", Body=b"partial")
    client.put_object(Bucket=bucket, Key=f"{prefix}/notes.txt", Body=b"the user's own file")
    lines = []
    run_build(demo_config(*demo_input[1::2]), out, s3.beam_args, log=lines.append)
    assert "1 already done, 1 to build" in lines[0]
    assert _remote(s3, out) == _local(demo_build[0])
    assert _temporaries(s3, out) == []
    assert s3.objects(out)["notes.txt"] == b"the user's own file"


def test_two_slices_from_separate_processes_into_one_s3_output_equal_one_run_then_report(s3, demo_input, tmp_path):
    out = f"s3://{s3.bucket('ipout')}/sliced"
    args = ["--config", DEMO_CONFIG, *demo_input, "--set", "source.shard_size=2", *s3.beam_args]
    env = {**os.environ, **s3.env, "PYTHONPATH": ROOT}
    procs = [subprocess.Popen([*CLI, "build", *args, "--output", out, "--slice", f"{i}/2"], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(2)]
    for p in procs:
        _, stderr = p.communicate(timeout=300)
        assert p.returncode == 0, stderr
    assert "report.json" not in s3.objects(out)
    ref = str(tmp_path / "ref")
    run_build(demo_config("source.shard_size=2"), ref, [], log=lambda *_: None)
    assert _remote(s3, out) == _local(ref)
    assert cli.main(["report", out, *s3.beam_args]) == 0
    written = s3.objects(out)
    assert written["report.json"] == open(os.path.join(ref, "report.json"), "rb").read()
    assert {"report.html", "rejects.html", "README.md"} <= set(written)
    assert _temporaries(s3, out) == []


@pytest.fixture
def s3_output(s3, demo_build) -> str:
    """The local demo build copied to a bucket, as a finished output on s3://."""
    url = f"s3://{s3.bucket('ipout')}/copy"
    s3.upload_folder(demo_build[0], url)
    return url


def test_export_reads_an_s3_output_into_a_local_folder_like_a_local_one(s3, s3_output, demo_build, tmp_path):
    remote_to, local_to = str(tmp_path / "from_s3"), str(tmp_path / "from_local")
    assert cli.main(["export", s3_output, "--format", "pipe", "--to", remote_to, "--with-masks", *s3.beam_args]) == 0
    assert cli.main(["export", demo_build[0], "--format", "pipe", "--to", local_to, "--with-masks"]) == 0
    mine, theirs = _local(remote_to, ("data/", "masks/")), _local(local_to, ("data/", "masks/"))
    assert mine and mine == theirs
    rows = sum(pq.read_metadata(os.path.join(remote_to, k)).num_rows for k in mine if k.startswith("data/"))
    assert rows == demo_build[1]["pairs"]


def test_preview_on_s3_writes_its_page_to_the_bucket(s3, s3_output, tmp_path, capsys):
    png = str(tmp_path / "sheet.png")
    assert cli.main(["preview", s3_output, "--n", "4", "--png", png, *s3.beam_args]) == 0
    assert s3.objects(s3_output)["preview.html"].startswith(b"<!")
    assert os.path.getsize(png) > 0


def test_the_loader_streams_s3_shards_like_local_ones(s3, s3_output, demo_build):
    urls = shard_urls(s3_output)
    assert urls == [f"{s3_output}/shards/{os.path.basename(u)}" for u in shard_urls(demo_build[0])]
    def pairs(shards):
        return [(src.tobytes(), tgt.tobytes(), mask.tobytes(), text)
                for src, tgt, mask, text in pair_dataset(shards, shuffle=0, seed=0, decode="rgb8")]
    remote = pairs(urls)
    assert len(remote) == demo_build[1]["pairs"]
    assert remote == pairs(shard_urls(demo_build[0]))


def test_commands_refuse_flags_that_are_not_storage_flags(s3_output, capsys):
    assert cli.main(["report", s3_output, "--runner=FlinkRunner"]) == 2
    assert "unrecognized arguments: --runner=FlinkRunner" in capsys.readouterr().err


def test_a_missing_output_bucket_is_one_message_naming_it(s3, capsys):
    out = "s3://no-such-bucket-here/run"
    assert cli.main(["build", "--config", DEMO_CONFIG, "--output", out, *s3.beam_args]) == 2
    err = capsys.readouterr().err
    assert f"--output {out}: no bucket 'no-such-bucket-here' at {s3.endpoint}" in err and "Traceback" not in err


def test_a_store_that_does_not_answer_stops_each_command_at_once_naming_the_path(s3, demo_input, tmp_path, capsys):
    """Beam's own retries took 8 minutes to end in a traceback; one quick probe per bucket says it first."""
    from s3 import free_port
    wrong = [f"--s3_endpoint_url=http://127.0.0.1:{free_port()}", "--s3_region_name=us-east-1"]
    assert cli.main(["build", "--config", DEMO_CONFIG, "--output", str(tmp_path / "out"), *demo_input, *wrong]) == 2
    err = capsys.readouterr().err
    for key in ("source.annotations", "source.images"):
        assert f"  {key} s3://" in err
    assert "does not answer (EndpointConnectionError" in err and "--s3_endpoint_url" in err
    assert "Traceback" not in err and not os.path.exists(tmp_path / "out")
    for command in (["report"], ["verify"], ["export", "--to", str(tmp_path / "x")]):
        assert cli.main([*command[:1], "s3://somewhere/run", *command[1:], *wrong]) == 2
        assert "OUTPUT s3://somewhere/run: the S3 endpoint" in capsys.readouterr().err


def test_check_looks_at_s3_inputs(s3, demo_input, capsys):
    base = demo_input[1].split("=", 1)[1].rsplit("/", 1)[0]
    assert cli.main(["check", "--config", DEMO_CONFIG, *demo_input, *s3.beam_args]) == 0
    printed = capsys.readouterr().out
    assert f"source.annotations         found       {base}/instances.json" in printed
    assert f"source.images              found       {base}/images" in printed
    assert cli.main(["check", "--config", DEMO_CONFIG, "--set", f"source.annotations={base}/nothing.json",
                     "--set", f"source.images={base}/images", *s3.beam_args]) == 2
    assert f"source.annotations         missing     {base}/nothing.json" in capsys.readouterr().out


def test_the_lease_on_s3_is_a_conditional_put_that_a_second_writer_cannot_take(s3, s3_output, capsys):
    """The lease on an object store: the S3-compatible server refuses the second If-None-Match put, so
    a report into an output whose lease is held stops naming the holder; once released, it runs."""
    from apache_beam.options.pipeline_options import PipelineOptions

    from pipelines import lock
    from transforms.core import fileio
    fileio.use_options(PipelineOptions(s3.beam_args))
    probe = f"{s3_output}/probe.json"
    assert fileio.create_exclusive(probe, b"first") and not fileio.create_exclusive(probe, b"second")
    assert fileio.read_bytes(probe) == b"first"
    with lock.held(s3_output, command="inpaint-pairs build (elsewhere)"):
        assert cli.main(["report", s3_output, *s3.beam_args]) == 2
        assert "is being written by another run: inpaint-pairs build (elsewhere)" in capsys.readouterr().err
    assert not fileio.exists(f"{s3_output}/lock.json")
    assert cli.main(["report", s3_output, *s3.beam_args]) == 0


def test_verify_finds_and_repairs_a_damaged_shard_on_s3(s3, s3_output, capsys):
    """Verify on an object store: a tar object cut short is named by verify, --repair removes the
    shard's commit marker so a rerun rebuilds it."""
    bucket, _, prefix = s3_output[len("s3://"):].partition("/")
    tar = s3.objects(s3_output)["shards/000001.tar"]
    s3.client().put_object(Bucket=bucket, Key=f"{prefix}/shards/000001.tar", Body=tar[: len(tar) // 3])
    assert cli.main(["verify", s3_output, *s3.beam_args]) == 1
    assert f"shard 000001: its tar file is {len(tar) // 3} bytes" in capsys.readouterr().out
    assert cli.main(["verify", s3_output, "--repair", *s3.beam_args]) == 0
    assert "shards/000001.stats.json" not in s3.objects(s3_output)
