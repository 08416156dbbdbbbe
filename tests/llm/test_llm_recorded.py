"""The recorded flagship on the real RouteLLM GSM8K file, and the client factory."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from shadowgap.config import Settings
from shadowgap.errors import FlagshipError
from shadowgap.llm.base import ChatClient, prompt_key
from shadowgap.llm.factory import make_flagship_client, reset_flagship_clients
from shadowgap.llm.recorded import GSM8K_FLAGSHIP, RecordedClient
from shadowgap.schemas import last_user_text


@pytest.fixture(scope="module")
def gsm8k_rows(routellm_dir: Path) -> list[dict[str, str]]:
    with (routellm_dir / "gsm8k" / "gsm8k_responses.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_answers_every_gsm8k_prompt_with_gpt4s_answer(
    routellm_dir: Path, gsm8k_rows: list[dict[str, str]]
) -> None:
    client = RecordedClient(routellm_dir / "gsm8k" / "gsm8k_responses.csv")
    assert isinstance(client, ChatClient)
    row = gsm8k_rows[3]
    # Extra whitespace and a system message do not change the key: the last user turn counts.
    messages = [
        {"role": "system", "content": "Be concise."},
        {"role": "user", "content": "  " + row["prompt"].replace(" ", "  ") + "\n"},
    ]
    completion = client.complete(messages, max_tokens=64)
    assert completion.text == row[GSM8K_FLAGSHIP]
    assert completion.attempts == 1
    assert completion.completion_tokens > 0
    assert len(client) == len({prompt_key(r["prompt"]) for r in gsm8k_rows})


def test_replicate_gets_the_same_answer(
    routellm_dir: Path, gsm8k_rows: list[dict[str, str]]
) -> None:
    client = RecordedClient(routellm_dir / "gsm8k" / "gsm8k_responses.csv")
    messages = [{"role": "user", "content": gsm8k_rows[10]["prompt"]}]
    first = client.complete(messages, max_tokens=64)
    second = client.complete(messages, max_tokens=64)
    assert first.text == second.text


def test_unknown_prompt_is_a_permanent_error(routellm_dir: Path) -> None:
    client = RecordedClient(routellm_dir / "gsm8k" / "gsm8k_responses.csv")
    with pytest.raises(FlagshipError) as caught:
        client.complete([{"role": "user", "content": "What is the capital of Peru?"}], max_tokens=8)
    assert caught.value.transient is False
    assert "no recorded answer" in caught.value.message


def test_jsonl_and_csv_answer_files(tmp_path: Path) -> None:
    jsonl = tmp_path / "answers.jsonl"
    jsonl.write_text(
        json.dumps({"prompt": "Capital of Peru?", "answer": "Lima"})
        + "\n\n"
        + json.dumps({"prompt": "2+2?", "answer": "4"})
        + "\n"
    )
    client = RecordedClient(jsonl)
    assert client.complete([{"role": "user", "content": "2+2?"}], max_tokens=4).text == "4"
    table = tmp_path / "answers.csv"
    table.write_text('prompt,answer\n"Capital of Peru?",Lima\n')
    answer = RecordedClient(table).complete(
        [{"role": "user", "content": [{"type": "text", "text": "Capital of Peru?"}]}], max_tokens=4
    )
    assert answer.text == "Lima"


def test_last_user_text_flattens_content_parts() -> None:
    messages = [
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "reply"},
        {"role": "user", "content": [{"type": "text", "text": "second"}, {"type": "image_url"}]},
    ]
    assert last_user_text(messages) == "second"


def test_factory_builds_one_client_per_process(routellm_dir: Path, tmp_path: Path) -> None:
    reset_flagship_clients()
    path = routellm_dir / "gsm8k" / "gsm8k_responses.csv"
    settings = Settings(flagship_client="recorded", recorded_answers_path=str(path))
    client = make_flagship_client(settings)
    assert client is make_flagship_client(settings.model_copy())
    assert client.name == "recorded"
    other = Settings(flagship_client="openai", flagship_base_url="http://127.0.0.1:9/v1")
    remote = make_flagship_client(other)
    assert remote.name == "openai" and remote is not client
    reset_flagship_clients()
