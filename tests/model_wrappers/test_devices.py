"""One model copy per GPU: each local worker process pins itself to GPU (worker index mod GPU count)."""
from __future__ import annotations

import pytest
import torch

from configs.schema import ModelConfig
from model_wrappers.base import Handler, resolve_device, worker_index


class _Recorder(Handler):
    family = "recorder"
    requires = ()

    def model_refs(self):
        return []

    def build(self, device, dtype):
        return type("Loaded", (), {"device": device, "dtype": dtype})()


@pytest.mark.parametrize("pref, cuda, count, index, expected", [
    ("auto", False, 0, 3, "cpu"),
    ("auto", True, 1, 3, "cuda"),
    ("auto", True, 8, 11, "cuda:3"),
    ("cuda:1", True, 8, 11, "cuda:1"),
    ("cpu", True, 8, 11, "cpu"),
])
def test_resolve_device(pref, cuda, count, index, expected):
    assert resolve_device(pref, cuda, count, index) == expected


def test_eight_workers_on_an_eight_gpu_node_load_onto_eight_gpus(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 8)
    devices = []
    for n in range(8, 16):  # Beam numbers workers on across waves: worker_8 .. worker_15
        monkeypatch.setenv("WORKER_ID", f"worker_{n}")
        assert worker_index() == n
        devices.append(_Recorder(ModelConfig()).load_model().device)
    assert sorted(devices) == [f"cuda:{g}" for g in range(8)]


def test_outside_a_worker_the_index_is_zero(monkeypatch):
    monkeypatch.delenv("WORKER_ID", raising=False)
    assert worker_index() == 0
    monkeypatch.setenv("WORKER_ID", "something-else")
    assert worker_index() == 0
