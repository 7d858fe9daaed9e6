"""Shared fixtures: one cached demo build, temporary copies, the loopback HTTP server, the local
S3-compatible server, short fetch bounds, the tiny random models."""
from __future__ import annotations

import os
import shutil

import pytest

from configs.schema import FetchConfig
from helpers import demo_config
from s3 import S3Server
from tiny_models import session_models
from web import Server


@pytest.fixture(scope="session")
def demo_build(tmp_path_factory):
    """The demo config built once in-process (FnApiRunner); tests only read it."""
    from pipelines.run import run_build
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


@pytest.fixture(scope="session")
def web():
    """A loopback HTTP server with latency and failure routes (tests/web.py)."""
    with Server() as srv:
        yield srv


@pytest.fixture(scope="session")
def s3_server():
    """moto's S3-compatible server on a free loopback port, its own process (tests/s3.py)."""
    with S3Server() as srv:
        yield srv


@pytest.fixture
def s3(s3_server, monkeypatch):
    """The S3 server with its credentials, region and endpoint in this process's environment (boto3 reads
    them, as a MinIO user's shell would hold them); make buckets with ``s3.bucket()``."""
    for name, value in s3_server.env.items():
        monkeypatch.setenv(name, value)
    return s3_server


@pytest.fixture
def fast() -> FetchConfig:
    """Bounds short enough for tests: a 0.5 s read timeout, one retry, 4 MiB bodies; loopback allowed."""
    return FetchConfig(connect_timeout=1.0, read_timeout=0.5, total_timeout=3.0, max_bytes=4 << 20,
                       max_redirects=3, retries=1, backoff=0.05,
                       allow_private_addresses=True)   # the test server is on loopback


@pytest.fixture(scope="session")
def tiny(tmp_path_factory) -> dict[str, str]:
    """The tiny random models of tests/tiny_models.py (built once per session, shared by every suite)."""
    return session_models(tmp_path_factory)
