"""Live progress (pipelines/progress.py): worker counts summed by the driver, images and pairs of the plan."""
from __future__ import annotations

import functools
import json
import re
import time

import apache_beam as beam

from helpers import demo_config
from pipelines import progress, run
from pipelines.progress import CountFn, Progress, progress_line, read_counts


def test_line_has_a_finite_eta_once_an_image_is_done():
    assert progress_line(0, 0, 400, 3.0) == "images 0/400 (0%), pairs 0, 0.0 images/s, ETA --"
    assert progress_line(100, 40, 400, 50.0) == "images 100/400 (25%), pairs 40, 2.0 images/s, ETA 150s"


def test_driver_sums_every_worker_file(tmp_path):
    (tmp_path / "11.json").write_text(json.dumps({"images": 3, "pairs": 1}))
    (tmp_path / "12.json").write_text(json.dumps({"images": 4, "pairs": 5}))
    (tmp_path / "13.json.tmp").write_text("{half")  # a file being replaced is skipped
    assert read_counts(str(tmp_path)) == {"images": 7, "pairs": 6}


def _slow(x):
    time.sleep(0.05)
    return x


def test_counts_move_while_a_single_bundle_runs():
    """One bundle of 40 elements taking ~2 s: the driver sees counts before the pipeline finishes."""
    lines = []
    with Progress(40, lines.append, every=0.2, tty=False):
        with beam.Pipeline(runner="FnApiRunner") as p:
            _ = (p | beam.Create(list(range(40)), reshuffle=False) | beam.ParDo(CountFn("images"))
                 | beam.Map(_slow) | "Pairs" >> beam.ParDo(CountFn("pairs")))
    done = [int(re.search(r"images (\d+)/40", line).group(1)) for line in lines]
    assert any(0 < d < 40 for d in done), lines  # mid-bundle, not only at the end
    assert any(re.search(r"ETA \d+s", line) for line in lines if "images 0/" not in line)
    assert lines[-1].startswith("[progress] images 40/40 (100%), pairs 40,")
    assert not progress.os.environ.get(progress.PROGRESS_ENV)


def test_a_one_shard_build_reports_images_and_pairs_of_the_plan(tmp_path, monkeypatch):
    monkeypatch.setattr(run, "Progress", functools.partial(Progress, every=0.1, tty=False))
    lines = []
    report = run.run_build(demo_config(), str(tmp_path / "out"), [], log=lines.append)
    ticks = [line for line in lines if line.startswith("[progress]")]
    total = report["images_in"]
    assert ticks and ticks[-1].startswith(f"[progress] images {total}/{total} (100%), pairs {report['pairs']},")
    assert re.search(r"ETA \d+s", ticks[-1])
