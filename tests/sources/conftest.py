"""Fixtures of the source tests: the local HTTP server, a fetch config with short bounds, tiny models."""
from __future__ import annotations

import pytest

from configs.schema import FetchConfig
from sources.web import Server
from tiny_models import session_models


@pytest.fixture(scope="session")
def web():
    with Server() as srv:
        yield srv


@pytest.fixture
def fast() -> FetchConfig:
    """Bounds short enough for tests: a 0.5 s read timeout, one retry, 4 MiB bodies."""
    return FetchConfig(connect_timeout=1.0, read_timeout=0.5, total_timeout=3.0, max_bytes=4 << 20,
                       max_redirects=3, retries=1, backoff=0.05)


@pytest.fixture(scope="session")
def tiny(tmp_path_factory) -> dict[str, str]:
    """The tiny random models of tests/tiny_models.py (built once per session, shared with other suites)."""
    return session_models(tmp_path_factory)
