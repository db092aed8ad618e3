"""Fixtures shared by the engine tests (helpers in engine_fixtures.py)."""
from __future__ import annotations

import pytest

from engine_fixtures import varied_tiny_qwen3


@pytest.fixture(scope="session")
def varied_model_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(varied_tiny_qwen3(tmp_path_factory.mktemp("tiny") / "tiny-qwen3-varied"))
