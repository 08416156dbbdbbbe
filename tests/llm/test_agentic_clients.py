"""Every flagship client takes the forwarded request: the OpenAI-compatible one sends it (see
tests/shadow/test_faithful_rerun.py), the embedded llama.cpp one passes what
``create_chat_completion`` accepts, and the recorded one can answer with a recorded tool
call. (No model is loaded here: the llama.cpp mapping is checked against its signature.)"""

from __future__ import annotations

import inspect
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from shadowgap.llm.base import DROPPED_PARAMS, FORWARDED_PARAMS, forwarded_params
from shadowgap.llm.llama_cpp_client import chat_messages, llama_options
from shadowgap.llm.openai_compat import OpenAICompatClient
from shadowgap.llm.recorded import RecordedClient
from tests.shadow.recording_flagship import TOOL_CALL, RecordingFlagship

SCHEMA = {"type": "object", "properties": {"summary": {"type": "string"}}}
OPTIONS = {
    "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": SCHEMA}}],
    "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
    "response_format": {"type": "json_schema", "json_schema": {"name": "s", "schema": SCHEMA}},
    "stop": ["END"],
    "seed": 5,
    "top_p": 0.9,
    "logit_bias": {"50256": -100},
    "reasoning_effort": "low",
}


def test_forwarded_and_dropped_params_are_disjoint_and_null_is_not_sent() -> None:
    assert not FORWARDED_PARAMS & set(DROPPED_PARAMS)
    assert forwarded_params({"tools": None, "seed": 1, "stream": True, "user": "u"}) == {"seed": 1}


def test_llama_options_fit_create_chat_completion() -> None:
    from llama_cpp import Llama

    accepted = set(inspect.signature(Llama.create_chat_completion).parameters)
    kwargs = llama_options(OPTIONS)
    assert set(kwargs) <= accepted
    # logit_bias token ids are the cheap model's tokenizer's; reasoning_effort is not a knob.
    assert "logit_bias" not in kwargs and "reasoning_effort" not in kwargs
    assert kwargs["response_format"] == {"type": "json_object", "schema": SCHEMA}
    assert kwargs["tools"] == OPTIONS["tools"] and kwargs["tool_choice"] == OPTIONS["tool_choice"]
    assert llama_options({"response_format": {"type": "text"}}) == {}


def test_llama_messages_are_text_with_tool_calls_kept() -> None:
    turns = chat_messages(
        [
            {"role": "assistant", "content": None, "tool_calls": [TOOL_CALL]},
            {
                "role": "tool",
                "tool_call_id": "call_flagship_1",
                "content": [{"type": "text", "text": "14C"}],
            },
        ]
    )
    assert turns == [
        {"role": "assistant", "content": "", "tool_calls": [TOOL_CALL]},
        {"role": "tool", "content": "14C", "tool_call_id": "call_flagship_1"},
    ]


def test_recorded_answer_may_be_a_tool_call(tmp_path: Path) -> None:
    table = tmp_path / "answers.jsonl"
    call = {"id": "call_1", "function": {"name": "get_weather", "arguments": {"city": "Rome"}}}
    table.write_text(
        json.dumps(
            {"prompt": "Weather in Rome?", "answer": {"content": None, "tool_calls": [call]}}
        )
        + "\n"
        + json.dumps({"prompt": "Hi", "answer": "Hello"})
        + "\n"
    )
    client = RecordedClient(table)
    completion = client.complete(
        [{"role": "user", "content": "Weather in Rome?"}], max_tokens=32, options=OPTIONS
    )
    assert (completion.text, completion.finish_reason) == ("", "tool_calls")
    assert completion.tool_calls == [
        {
            "id": "call_1",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city": "Rome"}'},
        }
    ]
    prose = client.complete([{"role": "user", "content": "Hi"}], max_tokens=8)
    assert (prose.text, prose.tool_calls, prose.finish_reason) == ("Hello", None, "stop")


@pytest.fixture
def flagship() -> Iterator[RecordingFlagship]:
    server = RecordingFlagship()
    yield server
    server.close()


def test_openai_client_sends_the_budget_under_the_requests_name(
    flagship: RecordingFlagship,
) -> None:
    client = OpenAICompatClient(
        base_url=flagship.url("/v1"), api_key=None, model="f", max_retries=0
    )
    messages = [{"role": "user", "content": "Weather?"}]
    completion = client.complete(
        messages, max_tokens=64, options={**OPTIONS, "max_completion_tokens": 64}
    )
    assert completion.tool_calls == [TOOL_CALL] and completion.finish_reason == "tool_calls"
    client.complete(messages, max_tokens=32)
    reasoning, plain = flagship.bodies()
    assert reasoning["max_completion_tokens"] == 64 and "max_tokens" not in reasoning
    assert {k: reasoning[k] for k in OPTIONS} == OPTIONS
    assert plain == {"model": "f", "messages": messages, "max_tokens": 32, "temperature": 0.0}
