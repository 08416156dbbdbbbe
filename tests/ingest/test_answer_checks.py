"""The answer checks ingest runs on every cheap answer without a flagship
(shadowgap/ingest/answer_checks.py): tool arguments against the request's tools, JSON answers
against the response schema, truncation and refusal, each bounded."""

from __future__ import annotations

import json
from typing import Any

import pytest

from shadowgap.config import Settings
from shadowgap.ingest.answer_checks import (
    MAX_CHECKED_CHARS,
    MAX_SCHEMA_STEPS,
    check_answer,
)
from shadowgap.ingest.store import answer_checks
from shadowgap.judging.json_schema import WalkLimit, validate
from shadowgap.privacy.redaction import redactor
from shadowgap.schemas import TrafficEvent

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "unit": {"type": "string", "enum": ["c", "f"], "default": "c"},
                "days": {"type": "integer"},
            },
            "required": ["city"],
            "additionalProperties": False,
        },
    },
}


def _event(answer: Any, params: dict[str, Any] | None = None, **extra: Any) -> TrafficEvent:
    return TrafficEvent.model_validate(
        {
            "event_id": "e1",
            "timestamp": "2026-11-02T12:00:00Z",
            "request": {
                "messages": [{"role": "user", "content": "Weather in Paris?"}],
                "params": params if params is not None else {"tools": [WEATHER]},
            },
            "route": {"tier": "cheap", "model": "small"},
            "answer": answer,
            **extra,
        }
    )


def _call(arguments: str, name: str = "get_weather") -> dict[str, Any]:
    message = {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": name, "arguments": arguments}}
        ],
    }
    return message


def _tool_args(arguments: str, name: str = "get_weather", **params: Any) -> Any:
    found = check_answer(_event(_call(arguments, name), params or None, finish_reason="tool_calls"))
    assert found is not None
    return found.get("tool_args")


def test_a_valid_call_is_checked_and_passes() -> None:
    found = check_answer(
        _event(_call('{"city": "Paris", "unit": "f"}'), finish_reason="tool_calls")
    )
    assert found == {
        "truncated": False,
        "refusal": False,
        "tool_args": {"invalid": False, "calls": 1},
    }


@pytest.mark.parametrize(
    ("arguments", "name", "kind", "path"),
    [
        ('{"city": "Par', "get_weather", "invalid_arguments_json", None),
        ('["Paris"]', "get_weather", "invalid_arguments_json", None),
        ('{"unit": "c"}', "get_weather", "missing_argument", "city"),
        ('{"city": 7}', "get_weather", "wrong_type", "city"),
        ('{"city": "Paris", "unit": "kelvin"}', "get_weather", "wrong_value", "unit"),
        ('{"city": "Paris", "country": "FR"}', "get_weather", "unexpected_argument", "country"),
        ('{"city": "Paris"}', "get_forecast", "wrong_function", None),
    ],
)
def test_each_kind_of_broken_call_is_named(
    arguments: str, name: str, kind: str, path: str | None
) -> None:
    found = _tool_args(arguments, name)
    assert found["invalid"] is True
    assert found["kind"] == kind
    assert found["path"] == path
    assert found["tool"] == name


def test_a_value_at_the_default_and_an_empty_argument_text_follow_the_judge() -> None:
    # A default outside the enum is the omitted argument (as the tool-call judge reads it).
    tool = json.loads(json.dumps(WEATHER))
    tool["function"]["parameters"]["properties"]["unit"]["default"] = "N/A"
    assert _tool_args('{"city": "Paris", "unit": "N/A"}', tools=[tool])["invalid"] is False
    # OpenAI sends "" for a call without arguments: an empty object, here missing "city".
    assert _tool_args("")["kind"] == "missing_argument"


def test_without_tools_in_the_request_only_the_json_is_checked() -> None:
    assert _tool_args('{"anything": 1}', temperature=0) == {"invalid": False, "calls": 1}
    assert _tool_args("{oops", temperature=0)["kind"] == "invalid_arguments_json"


SCHEMA_FORMAT = {
    "type": "json_schema",
    "json_schema": {
        "name": "person",
        "schema": {
            "type": "object",
            "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
            "required": ["name", "age"],
        },
    },
}


@pytest.mark.parametrize(
    ("text", "fmt", "expected"),
    [
        ('{"name": "Ada", "age": 36}', SCHEMA_FORMAT, {"invalid": False}),
        ('```json\n{"name": "Ada", "age": 36}\n```', SCHEMA_FORMAT, {"invalid": False}),
        (
            '{"name": "Ada"}',
            SCHEMA_FORMAT,
            {"invalid": True, "kind": "schema_violation", "path": "age"},
        ),
        (
            '{"name": "Ada", "age": "36"}',
            SCHEMA_FORMAT,
            {"invalid": True, "kind": "schema_violation", "path": "age"},
        ),
        ("Ada is 36.", SCHEMA_FORMAT, {"invalid": True, "kind": "invalid_json"}),
        ('{"a": 1}', {"type": "json_object"}, {"invalid": False}),
        (
            "[1, 2]",
            {"type": "json_object"},
            {"invalid": True, "kind": "schema_violation", "path": "$"},
        ),
    ],
)
def test_json_answers_are_checked_against_the_response_format(
    text: str, fmt: dict[str, Any], expected: dict[str, Any]
) -> None:
    found = check_answer(_event(text, {"response_format": fmt}))
    assert found == {"schema": expected}


def test_a_text_format_or_prose_request_gets_no_schema_check() -> None:
    assert check_answer(_event("hello", {"response_format": {"type": "text"}})) is None
    assert check_answer(_event("hello", {})) is None


def test_truncation_and_refusal() -> None:
    truncated = check_answer(_event("The weather in Par", {}, finish_reason="length"))
    assert truncated == {"truncated": True, "refusal": False}
    # Anthropic's stop reason as some gateways pass it on.
    assert check_answer(_event("x", {}, finish_reason="max_tokens"))["truncated"] is True  # type: ignore[index]
    filtered = check_answer(_event("", {}, finish_reason="content_filter"))
    assert filtered == {"truncated": False, "refusal": True}
    # An OpenAI refusal in the assistant message: no finish reason needed.
    refusal = check_answer(_event({"role": "assistant", "refusal": "I can't help with that."}, {}))
    assert refusal == {"refusal": True}
    # A refusal or a truncated answer is not checked for JSON as well (one cause, one alert).
    assert check_answer(
        _event('{"name": "A', {"response_format": SCHEMA_FORMAT}, finish_reason="length")
    ) == {"truncated": True, "refusal": False}


def test_no_answer_an_error_or_a_bare_string_without_finish_reason_gives_no_input() -> None:
    assert check_answer(_event(None, {}, finish_reason="stop")) is None
    assert check_answer(_event("boom", {}, status="error", finish_reason="stop")) is None
    assert check_answer(_event("fine", {})) is None


def test_inputs_past_the_caps_are_left_unchecked() -> None:
    long_arguments = json.dumps({"city": "x" * MAX_CHECKED_CHARS})
    assert _tool_args(long_arguments) is None
    deep = "[" * 5_000 + "]" * 5_000  # past the parser's recursion limit
    assert _tool_args(deep, temperature=0) is None
    # Unions whose options all walk into the same value would make a plain walk exponential
    # (3^10 visits here); the step cap stops it.
    schema: dict[str, Any] = {"type": "string"}
    for _ in range(10):
        option = {"type": "object", "properties": {"a": schema}}
        schema = {"anyOf": [option, {**option, "minProperties": 1}, {**option, "title": "t"}]}
    value: Any = 1.5
    for _ in range(10):
        value = {"a": value}
    with pytest.raises(WalkLimit):
        validate(value, schema, max_steps=MAX_SCHEMA_STEPS)
    tool = {"type": "function", "function": {"name": "f", "parameters": schema}}
    assert _tool_args(json.dumps(value), "f", tools=[tool]) is None


def test_ingest_checks_cheap_events_only_before_redaction_and_redacts_what_it_keeps() -> None:
    settings = Settings(cheap_routes=["cheap"])
    card = 4111111111111111  # a number redaction would turn into text inside the JSON
    cheap = _event(_call(json.dumps({"city": "Paris", "days": card})), finish_reason="tool_calls")
    flagship = cheap.model_copy(
        update={"event_id": "e2", "route": cheap.route.model_copy(update={"tier": "flagship"})}
    )
    # The key the schema forbids holds an e-mail address: the stored path is redacted.
    leak = _event(_call('{"city": "P", "ana@example.com": 1}'), finish_reason="tool_calls")
    leak = leak.model_copy(update={"event_id": "e3"})
    found = answer_checks([cheap, flagship, leak], settings, redactor(("email", "card")))
    assert set(found) == {"e1", "e3"}
    assert found["e1"]["tool_args"] == {"invalid": False, "calls": 1}
    assert found["e3"]["tool_args"]["kind"] == "unexpected_argument"
    assert "ana@example.com" not in json.dumps(found["e3"])
