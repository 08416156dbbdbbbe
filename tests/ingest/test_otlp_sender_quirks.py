"""What two real instrumentations write that the mapping must correct, as spans in OTLP JSON
with the attributes those instrumentations were seen to write (the end-to-end proof with the
real packages is tests/ingest/test_instrumentations.py; these run without them)."""

from __future__ import annotations

import json

from shadowgap.config import Settings
from shadowgap.ingest.otlp import decode_json, parse_request
from shadowgap.ingest.store import is_cheap
from shadowgap.schemas import TrafficEvent
from tests.support.otlp import json_span, otlp_json

TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


OUTPUT_CALL = "llm.output_messages.0.message.tool_calls.0.tool_call"


def _event(attributes: dict[str, object], **settings: object) -> TrafficEvent:
    parsed = parse_request(
        decode_json(otlp_json([json_span("00000000000000d1", attributes)])), Settings(**settings)
    )
    assert parsed.rejected == [] and parsed.waiting == []
    (event,) = parsed.events
    return event


def test_openinference_tier_is_the_requested_model_not_the_served_one() -> None:
    event = _event(
        {
            "openinference.span.kind": "LLM",
            "llm.model_name": "gpt-4o-mini-2024-07-18",  # what OpenAI served
            "llm.invocation_parameters": json.dumps(
                {"model": "gpt-4o-mini", "tool_choice": "auto"}
            ),
            "llm.input_messages.0.message.role": "user",
            "llm.input_messages.0.message.content": "Weather in Rome?",
            "llm.tools.0.tool.json_schema": json.dumps(TOOL),
            "llm.output_messages.0.message.role": "assistant",
            f"{OUTPUT_CALL}.id": "call_1",
            f"{OUTPUT_CALL}.function.name": "get_weather",
            f"{OUTPUT_CALL}.function.arguments": '{"city": "Rome"}',
            "llm.finish_reason": "tool_calls",
        },
        cheap_routes="gpt-4o-mini",
    )
    assert (event.route.tier, event.route.model) == ("gpt-4o-mini", "gpt-4o-mini-2024-07-18")
    assert is_cheap(event, Settings(cheap_routes="gpt-4o-mini"))
    assert event.request.params == {"tool_choice": "auto", "tools": [TOOL]}
    assert event.finish_reason == "tool_calls"


def test_openlit_system_prompt_is_kept_once_and_its_filled_defaults_are_dropped() -> None:
    system = [{"type": "text", "content": "You are terse."}]
    event = _event(
        {
            "telemetry.sdk.name": "openlit",
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "gpt-4o-mini",
            "gen_ai.system_instructions": json.dumps(system),
            "gen_ai.input.messages": json.dumps(
                [
                    {"role": "system", "parts": system},
                    {"role": "user", "parts": [{"type": "text", "content": "Hi"}]},
                ]
            ),
            "gen_ai.output.messages": json.dumps(
                [{"role": "assistant", "parts": [{"type": "text", "content": "Hello"}]}]
            ),
            # OpenLIT's values when the caller set none, and one the caller did set.
            "gen_ai.request.temperature": 1.0,
            "gen_ai.request.top_p": 1.0,
            "gen_ai.request.frequency_penalty": 0.0,
            "gen_ai.request.presence_penalty": 0.0,
            "gen_ai.request.seed": 0,
            "gen_ai.request.max_tokens": 64,
        }
    )
    assert [(m.role, m.content) for m in event.request.messages] == [
        ("system", "You are terse."),
        ("user", "Hi"),
    ]
    assert event.request.params == {"max_tokens": 64}


def test_other_senders_keep_the_same_values_and_separate_system_instructions() -> None:
    """The corrections are OpenLIT's only: the GenAI semconv keeps system instructions apart
    from the input messages, and a temperature of 1 sent by anyone else is kept."""
    event = _event(
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "gpt-4o-mini",
            "gen_ai.system_instructions": json.dumps([{"type": "text", "content": "Be brief."}]),
            "gen_ai.input.messages": json.dumps(
                [{"role": "user", "parts": [{"type": "text", "content": "Hi"}]}]
            ),
            "gen_ai.request.temperature": 1.0,
            "gen_ai.request.seed": 0,
        }
    )
    assert [(m.role, m.content) for m in event.request.messages] == [
        ("system", "Be brief."),
        ("user", "Hi"),
    ]
    assert event.request.params == {"temperature": 1.0, "seed": 0}
