"""Shared fixtures: one cached demo build, temporary copies."""
from __future__ import annotations

import os
import shutil

import pytest

from helpers import demo_config


@pytest.fixture(scope="session")
def demo_build(tmp_path_factory):
    """The demo config built once in-process (FnApiRunner); tests only read it."""
    from pipelines.build import run_build
    out = str(tmp_path_factory.mktemp("demo") / "out")
    report = run_build(demo_config(), out, [], log=lambda *_: None)
    return out, report


@pytest.fixture
def copy_of(tmp_path):
    def copy(src: str) -> str:
        dst = str(tmp_path / os.path.basename(src))
        shutil.copytree(src, dst)
        return dst
    return copy
