import pytest

from tiny_models import session_models


@pytest.fixture(scope="session")
def tiny(tmp_path_factory) -> dict[str, str]:
    """Paths of the tiny random models of every family (built once per session)."""
    return session_models(tmp_path_factory)
