"""Fixtures shared by these tests: the RouteLLM data and the packaged SmolLM2 GGUF file."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.settings import DATA_DIR


@pytest.fixture(scope="session")
def routellm_dir() -> Path:
    if not DATA_DIR.is_dir():
        pytest.fail(f"RouteLLM data not found at {DATA_DIR}")
    return DATA_DIR


@pytest.fixture(scope="session")
def smollm2_path() -> Path:
    # Imported before llama_cpp: the client module sets OpenMP's wait policy first.
    import llama_cpp  # noqa: F401 - a project dependency: failing to import is a failure

    from shadowgap.llm.llama_cpp_client import packaged_model_path

    return packaged_model_path()
