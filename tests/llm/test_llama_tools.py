"""The embedded flagship on an agentic request: SmolLM2's chat template shows neither tools nor
tool calls, so a tool call comes only from a ``tool_choice`` naming one function, which
llama-cpp-python enforces with a grammar of that function's parameters; a ``json_schema``
response format is enforced the same way."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shadowgap.llm.llama_cpp_client import LlamaCppClient

pytestmark = pytest.mark.llama

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
]
HISTORY = [
    {"role": "user", "content": "Weather in Paris?"},
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "c1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
            }
        ],
    },
    {"role": "tool", "tool_call_id": "c1", "content": "14C"},
    {"role": "user", "content": "And Rome?"},
]


def test_a_named_tool_choice_gets_a_tool_call_and_json_schema_gets_json(
    smollm2_path: Path,
) -> None:
    client = LlamaCppClient()
    named = {"type": "function", "function": {"name": "get_weather"}}
    completion = client.complete(
        HISTORY, max_tokens=40, options={"tools": TOOLS, "tool_choice": named}
    )
    assert completion.finish_reason == "tool_calls" and completion.text == ""
    assert completion.tool_calls is not None and len(completion.tool_calls) == 1
    call = completion.tool_calls[0]["function"]
    assert call["name"] == "get_weather"
    assert isinstance(json.loads(call["arguments"])["city"], str)

    schema = {"type": "object", "properties": {"summary": {"type": "string"}}}
    fmt = {"type": "json_schema", "json_schema": {"name": "s", "schema": schema}}
    answer = client.complete(
        [{"role": "user", "content": "Summarise: rain in Paris."}],
        max_tokens=48,
        options={"response_format": fmt},
    )
    assert answer.tool_calls is None and answer.text.lstrip().startswith("{")
