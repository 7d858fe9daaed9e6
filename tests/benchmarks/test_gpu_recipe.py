"""benchmarks/gpu_recipe.py runs here as a user runs it on a GPU machine: on the tiny models, on the CPU."""
from __future__ import annotations

import os
import sys

from helpers import ROOT


def test_the_gpu_recipe_benchmark_prints_each_model_stage_at_each_batch_size(tmp_path, capsys, monkeypatch):
    monkeypatch.syspath_prepend(os.path.join(ROOT, "benchmarks"))
    import gpu_recipe
    gpu_recipe.main(["--tiny", str(tmp_path), "--images", "24", "--batch-sizes", "4,1"])
    sys.modules.pop("gpu_recipe", None)
    lines = capsys.readouterr().out.splitlines()
    rows = {line.split(" | ")[0].strip("| "): line for line in lines if line.startswith("| ") and "stage" not in line}
    assert {"remove", "describe", "instruct", "clip_prefilter", "importance"} <= set(rows)
    for stage, line in rows.items():
        batched, alone = (cell.split(", ") for cell in line.strip("| ").split(" | ")[1:])
        assert float(alone[1]) == 1.0 and float(batched[1]) > 1.0, line   # rows per call
        assert int(batched[2]) < int(alone[2]), line                       # fewer calls for the same rows
    summary = [line for line in lines if line.startswith("batch ")]
    assert len(summary) == 2 and all("24 images" in line and "models busy" in line for line in summary)
    assert "peak accelerator memory n/a (no CUDA)" in summary[0]
