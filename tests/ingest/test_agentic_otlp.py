"""OTLP spans of the GenAI semantic conventions (v1.37+) carry tool calls as message parts:
``tool_call`` parts on assistant messages, ``tool_call_response`` parts on tool messages. They
are kept as OpenAI chat tool calls and tool turns, and an output message that calls tools is a
structured answer."""

from __future__ import annotations

import json
from typing import Any

from shadowgap.config import Settings
from shadowgap.ingest.otlp import decode_json, parse_request


def _span(span_id: str, attributes: dict[str, str]) -> dict[str, Any]:
    """One client span in OTLP JSON, its attributes string values."""
    return {
        "traceId": "5b8efff798038103d269b633813fc60c",
        "spanId": span_id,
        "name": "chat gpt-4o-mini",
        "kind": 3,
        "startTimeUnixNano": "1764590400000000000",
        "endTimeUnixNano": "1764590401250000000",
        "attributes": [{"key": k, "value": {"stringValue": v}} for k, v in attributes.items()],
        "status": {"code": 1},
    }


def otlp_json(spans: list[dict[str, Any]]) -> bytes:
    scope = {"scope": {"name": "handwritten"}, "spans": spans}
    return json.dumps({"resourceSpans": [{"resource": {}, "scopeSpans": [scope]}]}).encode()


INPUT = [
    {"role": "user", "parts": [{"type": "text", "content": "Weather in Paris?"}]},
    {
        "role": "assistant",
        "parts": [
            {
                "type": "tool_call",
                "id": "call_1",
                "name": "get_weather",
                "arguments": {"city": "Paris"},
            }
        ],
    },
    {
        "role": "tool",
        "parts": [{"type": "tool_call_response", "id": "call_1", "response": {"temp_c": 14}}],
    },
    {"role": "user", "parts": [{"type": "text", "content": "And Rome?"}]},
]
OUTPUT = [
    {
        "role": "assistant",
        "parts": [
            {
                "type": "tool_call",
                "id": "call_2",
                "name": "get_weather",
                "arguments": '{"city": "Rome"}',
            }
        ],
        "finish_reason": "tool_call",
    }
]


def test_semconv_tool_call_parts_are_kept() -> None:
    span = _span(
        "3333333333333333",
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "gpt-4o-mini",
            "gen_ai.input.messages": json.dumps(INPUT),
            "gen_ai.output.messages": json.dumps(OUTPUT),
        },
    )
    (event,) = parse_request(decode_json(otlp_json([span])), Settings()).events
    assert event.request.model_dump(mode="json")["messages"] == [
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                }
            ],
        },
        {"role": "tool", "content": '{"temp_c":14}', "tool_call_id": "call_1"},
        {"role": "user", "content": "And Rome?"},
    ]
    assert event.answer_text() == ""
    assert event.answer_tool_calls() == [
        {
            "id": "call_2",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city": "Rome"}'},
        }
    ]
    assert event.answer_finish_reason() == "tool_calls"


def test_text_output_stays_a_text_answer_with_its_finish_reason() -> None:
    output = [
        {"role": "assistant", "parts": [{"type": "text", "content": "Hi"}], "finish_reason": "stop"}
    ]
    span = _span(
        "4444444444444444",
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "gpt-4o-mini",
            "gen_ai.input.messages": json.dumps(INPUT[:1]),
            "gen_ai.output.messages": json.dumps(output),
        },
    )
    (event,) = parse_request(decode_json(otlp_json([span])), Settings()).events
    assert (event.answer, event.finish_reason) == ("Hi", "stop")


def _call(call_id: str, city: str) -> dict[str, Any]:
    arguments = json.dumps({"city": city})
    return {
        "id": call_id,
        "type": "function",
        "function": {"name": "get_weather", "arguments": arguments},
    }


def _flat_conversation(event: Any) -> None:
    assert event.request.model_dump(mode="json")["messages"] == [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": None, "tool_calls": [_call("call_1", "Paris")]},
        {"role": "tool", "content": "14C", "tool_call_id": "call_1"},
        {"role": "user", "content": "And Rome?"},
    ]
    assert event.answer_text() == ""
    assert event.answer_tool_calls() == [_call("call_2", "Rome")]


def test_openllmetry_flattened_tool_calls() -> None:
    attrs = {
        "llm.request.type": "chat",
        "gen_ai.system": "openai",
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.prompt.0.role": "user",
        "gen_ai.prompt.0.content": "Weather in Paris?",
        "gen_ai.prompt.1.role": "assistant",
        "gen_ai.prompt.1.tool_calls.0.id": "call_1",
        "gen_ai.prompt.1.tool_calls.0.name": "get_weather",
        "gen_ai.prompt.1.tool_calls.0.arguments": json.dumps({"city": "Paris"}),
        "gen_ai.prompt.2.role": "tool",
        "gen_ai.prompt.2.content": "14C",
        "gen_ai.prompt.2.tool_call_id": "call_1",
        "gen_ai.prompt.3.role": "user",
        "gen_ai.prompt.3.content": "And Rome?",
        "gen_ai.completion.0.role": "assistant",
        "gen_ai.completion.0.finish_reason": "tool_calls",
        "gen_ai.completion.0.tool_calls.0.id": "call_2",
        "gen_ai.completion.0.tool_calls.0.name": "get_weather",
        "gen_ai.completion.0.tool_calls.0.arguments": json.dumps({"city": "Rome"}),
    }
    (event,) = parse_request(
        decode_json(otlp_json([_span("5555555555555555", attrs)])), Settings()
    ).events
    _flat_conversation(event)
    assert event.answer_finish_reason() == "tool_calls"


def test_openinference_flattened_tool_calls() -> None:
    prefix = "llm.input_messages"
    call = "message.tool_calls.0.tool_call"
    attrs = {
        "openinference.span.kind": "LLM",
        "llm.model_name": "gpt-4o-mini",
        f"{prefix}.0.message.role": "user",
        f"{prefix}.0.message.content": "Weather in Paris?",
        f"{prefix}.1.message.role": "assistant",
        f"{prefix}.1.{call}.id": "call_1",
        f"{prefix}.1.{call}.function.name": "get_weather",
        f"{prefix}.1.{call}.function.arguments": json.dumps({"city": "Paris"}),
        f"{prefix}.2.message.role": "tool",
        f"{prefix}.2.message.content": "14C",
        f"{prefix}.2.message.tool_call_id": "call_1",
        f"{prefix}.3.message.role": "user",
        f"{prefix}.3.message.content": "And Rome?",
        "llm.output_messages.0.message.role": "assistant",
        f"llm.output_messages.0.{call}.id": "call_2",
        f"llm.output_messages.0.{call}.function.name": "get_weather",
        f"llm.output_messages.0.{call}.function.arguments": json.dumps({"city": "Rome"}),
    }
    (event,) = parse_request(
        decode_json(otlp_json([_span("6666666666666666", attrs)])), Settings()
    ).events
    _flat_conversation(event)


PARAMETERS = {"type": "object", "properties": {"city": {"type": "string"}}}


def test_request_tools_and_params_of_each_convention() -> None:
    definitions = [{"type": "function", "name": "get_weather", "parameters": PARAMETERS}]
    semconv = {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.input.messages": json.dumps(INPUT[:1]),
        "gen_ai.tool.definitions": json.dumps(definitions),
        "gen_ai.request.seed": "7",
        "gen_ai.request.stop_sequences": "END",
        "gen_ai.openai.request.response_format": "json_object",
    }
    openllmetry = {
        "llm.request.type": "chat",
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.prompt.0.role": "user",
        "gen_ai.prompt.0.content": "Weather?",
        "llm.request.functions.0.name": "get_weather",
        "llm.request.functions.0.parameters": json.dumps(PARAMETERS),
    }
    spans = [_span("7777777777777777", semconv), _span("8888888888888888", openllmetry)]
    first, second = parse_request(decode_json(otlp_json(spans)), Settings()).events
    tool = {"type": "function", "function": {"name": "get_weather", "parameters": PARAMETERS}}
    assert first.request.params == {
        "tools": [tool],
        "seed": "7",
        "stop": "END",
        "response_format": {"type": "json_object"},
    }
    assert second.request.params == {"tools": [tool]}
