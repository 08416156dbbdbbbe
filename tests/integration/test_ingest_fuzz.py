"""Fuzz of the one ingest pipeline (issue 22's "done when"): pathological strings and deep
nesting in every text and JSON field of every ingest route, one request at a time, against a
live API (uvicorn in its own process) on PostgreSQL and Redis, while another process asks
``/healthz`` every 10 ms.

Routes: native ``/v1/events`` (one object, an array, NDJSON), LiteLLM ``/v1/ingest/litellm``
(chat, Anthropic Messages and Responses shapes), OTLP ``/v1/traces`` (JSON and protobuf;
GenAI semconv, OpenLLMetry and OpenInference attributes) and ``/v1/logs`` (the log record
that carries a waiting span's content, JSON and protobuf). Fields: messages, system prompts,
content parts, tool-call arguments (history and answer), tool results, refusals, errors, the
router's tier/model/reason, segment attributes, tags, metadata (keys and values), request
params (``stop``, ``tools`` schemas, ``response_format``), ids, span names, status messages,
span events and attribute keys.

Asserted: no answer is a 5xx; every field takes plain text (a 200 that stores the event, so
the run cannot pass by being refused wholesale); and the p99 of the ``/healthz`` probes stays
under 100 ms (the slowest probe and the request in flight then are printed). Before the
fixes of this test's commit, nesting ~300-1000 levels deep in a tool call's object arguments,
an Anthropic ``tool_use`` input, LiteLLM's ``model_parameters`` or an OTLP tool-call part was
a 500 (RecursionError, or orjson's depth limit), and a 1,000,000-character digit run held
``/healthz`` in the redaction's card and phone scans.
"""

from __future__ import annotations

import copy
import itertools
import json
import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, func, select

from shadowgap.db import models
from shadowgap.ingest import otlp_logs
from shadowgap.ingest.otlp import decode_json
from tests.support.factories import native_event
from tests.support.healthz_probe import HealthProbe
from tests.support.live_api import start_api
from tests.support.otlp import json_span, kv
from tests.support.processes import free_port
from tests.support.settings import API_KEY, API_KEYS, FIXTURES_DIR

# Each string is about SIZE characters: long enough that a pattern quadratic in its input
# takes seconds (24,000^2 steps), short enough that ~1,000 requests take well under a minute.
SIZE = 24_000
# The schema's largest string: the few kinds that cost most per character are also sent at it,
# in the prompt of each route, where every scan reads all of it.
HUGE = 1_000_000


def _repeat(unit: str, size: int) -> str:
    return (unit * (size // len(unit) + 1))[:size]


# Runs without the character a pattern waits for, repeated separators and openers, digit
# groups shaped like cards, phones, IPs and IBANs, PII fragments, bidi and control
# characters, combining marks and very long tokens.
UNITS = {
    "letters": "a",
    "dash-digits": "1-",
    "at-signs": "@",
    "letter-at": "a@",
    "digits": "1",
    "card-groups": "4111 ",
    "phone-groups": "+1 (202) 555-0143 ",
    "emails": "jane.doe@example.com ",
    "dots": "a.",
    "ipv4ish": "1.1.",
    "colons": "a1:",
    "iban-groups": "DE89 3704 ",
    "jwt-starts": "eyJ-",
    "jwt-parts": "eyJab.",
    "key-prefixes": "sk-",
    "key-values": "token=",
    "bearer": "Bearer ",
    "curly-quotes": "\u201c",
    "quotes": '"a',
    "numbers": "1,",
    "urls": "http://",
    "brackets": "[{",
    "bidi": "\u202e\u2066a\u2069",
    "controls": "\x01\r\n\t\x7f\x85\x00",
    "combining": "e\u0301\u0327",
    "emoji": "\U0001f600\u200d",
    "long-token": "aZ9+/Qx7_",
    "whitespace": " \n",
}
PATHOLOGICAL = {name: _repeat(unit, SIZE) for name, unit in UNITS.items()}
HUGE_KINDS = ("digits", "dash-digits", "card-groups", "letter-at", "long-token")
DEPTHS = (64, 65, 300, 990)
# Each field gets every SHARE-th kind (rotating, so every kind reaches every route and most
# fields), and plain letters; SHADOWGAP_FUZZ_FULL=1 sends every kind to every field (~2,700
# requests, a few minutes).
SHARE = 3
FULL = os.environ.get("SHADOWGAP_FUZZ_FULL") == "1"
IDLE_SECONDS = 3.0


def nested(depth: int) -> str:
    """A marker that :func:`dumps` writes as objects and lists alternating ``depth`` levels
    deep around a string with a NUL (Python's json cannot encode ~1,000 levels itself)."""
    return f"__deep_{depth}__"


_DEEP = re.compile(r'"__deep_(\d+)__"')


def _deep_json(depth: int) -> str:
    opening = "".join('{"a":' if level % 2 else "[" for level in reversed(range(depth)))
    closing = "".join("}" if level % 2 else "]" for level in range(depth))
    return opening + '"x\\u0000"' + closing


def dumps(value: Any) -> str:
    """``json.dumps`` with every :func:`nested` marker written out."""
    return _DEEP.sub(lambda found: _deep_json(int(found.group(1))), json.dumps(value))


# --- the routes' bodies, one field filled ----------------------------------------------------

Body = tuple[str, bytes, dict[str, str]]
_ids = itertools.count()


def _uid() -> str:
    return f"fz-{next(_ids)}"


def _native_body(event: dict[str, Any]) -> Body:
    """Rotates the three body shapes: one object, an array, NDJSON (two lines)."""
    shape = next(_ids) % 3
    if shape == 0:
        data = dumps(event).encode()
    elif shape == 1:
        data = dumps([event]).encode()
    else:
        data = (dumps(event) + "\n" + dumps(native_event(_uid())) + "\n").encode()
    return "/v1/events", data, {"Content-Type": "application/json"}


def _native(edit: Callable[[dict[str, Any], Any], None]) -> Callable[[Any], Body]:
    def build(value: Any) -> Body:
        event = native_event(_uid())
        edit(event, value)
        return _native_body(event)

    return build


def _messages(event: dict[str, Any]) -> list[dict[str, Any]]:
    return event["request"]["messages"]  # type: ignore[no-any-return]


def _history(value: Any, arguments: bool) -> list[dict[str, Any]]:
    """A tool-calling turn and its result, ``value`` in the arguments or in the result."""
    return [
        {"role": "user", "content": "What is the weather in Paris?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {
                        "name": "weather",
                        "arguments": value if arguments else '{"city": "Paris"}',
                    },
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny" if arguments else value},
    ]


def _tool_schema(description: Any, properties: Any = None) -> list[dict[str, Any]]:
    return [
        {
            "type": "function",
            "function": {
                "name": "weather",
                "description": description,
                "parameters": {
                    "type": "object",
                    "properties": properties or {"city": {"type": "string"}},
                },
            },
        }
    ]


def _set(path: str, cut: int | None = None) -> Callable[[dict[str, Any], Any], None]:
    """An edit that sets a dotted path of the native event (cut to the field's limit)."""

    def edit(event: dict[str, Any], value: Any) -> None:
        *parents, last = path.split(".")
        target = event
        for part in parents:
            target = target.setdefault(part, {})
        target[last] = value[:cut] if cut is not None and isinstance(value, str) else value

    return edit


NATIVE_TEXT: dict[str, Callable[[Any], Body]] = {
    "user message": _native(lambda e, v: _messages(e)[0].update(content=v)),
    "system message": _native(
        lambda e, v: _messages(e).insert(0, {"role": "system", "content": v})
    ),
    "content part": _native(
        lambda e, v: _messages(e)[0].update(content=[{"type": "text", "text": v}])
    ),
    "other part": _native(
        lambda e, v: _messages(e)[0].update(content=[{"type": "input_audio", "data": v}])
    ),
    "tool-call arguments": _native(lambda e, v: e["request"].update(messages=_history(v, True))),
    "tool result": _native(lambda e, v: e["request"].update(messages=_history(v, False))),
    "legacy function_call": _native(
        lambda e, v: _messages(e).append(
            {"role": "assistant", "function_call": {"name": "f", "arguments": v}}
        )
    ),
    "answer": _native(_set("answer")),
    "answer tool call": _native(
        lambda e, v: e.update(
            answer={
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "c", "type": "function", "function": {"name": "f", "arguments": v}}
                ],
            }
        )
    ),
    "answer refusal": _native(lambda e, v: e.update(answer={"role": "assistant", "refusal": v})),
    "error": _native(lambda e, v: e.update(status="error", error=v[:10_000])),
    "route.reason": _native(_set("route.reason", 2000)),
    "route.tier": _native(_set("route.tier", 128)),
    "route.model": _native(_set("route.model", 256)),
    "tenant": _native(_set("attributes.tenant", 256)),
    "user": _native(_set("attributes.user", 256)),
    "api_key_alias": _native(_set("attributes.api_key_alias", 256)),
    "tags": _native(lambda e, v: e["attributes"].update(tags=[v[:256], "x"])),
    "metadata value": _native(lambda e, v: e["attributes"].update(metadata={"note": v})),
    "metadata key": _native(lambda e, v: e["attributes"].update(metadata={v: 1})),
    "params.stop": _native(lambda e, v: e["request"]["params"].update(stop=[v])),
    "params.tools": _native(lambda e, v: e["request"]["params"].update(tools=_tool_schema(v))),
    "response_format": _native(
        lambda e, v: e["request"]["params"].update(
            response_format={
                "type": "json_schema",
                "json_schema": {"name": "a", "schema": {"type": "object", "description": v}},
            }
        )
    ),
    "event_id": _native(_set("event_id", 200)),
    "message name": _native(lambda e, v: _messages(e)[0].update(name=v[:256])),
}

NATIVE_NESTED: dict[str, Callable[[Any], Body]] = {
    "metadata": _native(lambda e, v: e["attributes"].update(metadata={"deep": v})),
    "params": _native(lambda e, v: e["request"]["params"].update(extra=v)),
    "tools schema": _native(
        lambda e, v: e["request"]["params"].update(tools=_tool_schema("d", {"deep": v}))
    ),
    "content parts": _native(lambda e, v: _messages(e)[0].update(content=[{"type": "x", "v": v}])),
    "tool-call arguments object": _native(
        lambda e, v: e.update(
            answer={
                "role": "assistant",
                "tool_calls": [
                    {
                        "id": "c",
                        "type": "function",
                        "function": {"name": "f", "arguments": {"a": v}},
                    }
                ],
            }
        )
    ),
    "custom tool call": _native(
        lambda e, v: e.update(
            answer={"role": "assistant", "tool_calls": [{"type": "custom", "custom": {"input": v}}]}
        )
    ),
}


# LiteLLM: the captured StandardLoggingPayload, one field replaced.
LITELLM_BASE = json.loads((FIXTURES_DIR / "litellm" / "single_0.json").read_text())


def _litellm(edit: Callable[[dict[str, Any], Any], None]) -> Callable[[Any], Body]:
    def build(value: Any) -> Body:
        payload = copy.deepcopy(LITELLM_BASE)
        payload["id"] = payload["litellm_call_id"] = _uid()
        edit(payload, value)
        data = dumps([payload] if next(_ids) % 2 else payload).encode()
        return "/v1/ingest/litellm", data, {"Content-Type": "application/json"}

    return build


def _anthropic(payload: dict[str, Any], messages: list[Any], response: Any = None) -> None:
    payload["call_type"] = "anthropic_messages"
    payload["messages"] = messages
    payload["response"] = response or {
        "content": [{"type": "text", "text": "ok"}],
        "stop_reason": "end_turn",
    }


def _anthropic_history(tool_input: Any, result: Any) -> list[Any]:
    return [
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "tu_1", "name": "weather", "input": tool_input}],
        },
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "tu_1", "content": result}],
        },
    ]


def _anthropic_system(payload: dict[str, Any], system: Any) -> None:
    _anthropic(payload, [{"role": "user", "content": [{"type": "text", "text": "hi"}]}])
    payload["model_parameters"] = {"system": system}


def _responses(
    payload: dict[str, Any], items: list[Any], params: dict[str, Any] | None = None
) -> None:
    payload["call_type"] = "responses"
    payload["messages"] = items
    payload["model_parameters"] = params or {}
    payload["response"] = {
        "output": [{"type": "message", "content": [{"type": "output_text", "text": "ok"}]}],
        "status": "completed",
    }


def _responses_history(arguments: Any, output: Any) -> list[Any]:
    return [
        {"role": "user", "content": [{"type": "input_text", "text": "Weather?"}]},
        {"type": "function_call", "call_id": "fc_1", "name": "weather", "arguments": arguments},
        {"type": "function_call_output", "call_id": "fc_1", "output": output},
    ]


def _answer_message(payload: dict[str, Any], message: dict[str, Any]) -> None:
    payload["response"]["choices"][0]["message"] = message


LITELLM_TEXT: dict[str, Callable[[Any], Body]] = {
    "messages content": _litellm(lambda p, v: p.update(messages=[{"role": "user", "content": v}])),
    "prompt string": _litellm(lambda p, v: p.update(messages=v)),
    "system message": _litellm(
        lambda p, v: p.update(
            messages=[{"role": "system", "content": v}, {"role": "user", "content": "hi"}]
        )
    ),
    "answer": _litellm(lambda p, v: _answer_message(p, {"role": "assistant", "content": v})),
    "answer tool call": _litellm(
        lambda p, v: _answer_message(
            p,
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "c", "type": "function", "function": {"name": "f", "arguments": v}}
                ],
            },
        )
    ),
    "tool-call arguments": _litellm(lambda p, v: p.update(messages=_history(v, True))),
    "tool result": _litellm(lambda p, v: p.update(messages=_history(v, False))),
    "anthropic tool_use input": _litellm(
        lambda p, v: _anthropic(p, _anthropic_history({"q": v}, "ok"))
    ),
    "anthropic tool_result": _litellm(lambda p, v: _anthropic(p, _anthropic_history({}, v))),
    "anthropic system": _litellm(lambda p, v: _anthropic_system(p, v)),
    "anthropic answer tool_use": _litellm(
        lambda p, v: _anthropic(
            p,
            [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
            {
                "content": [{"type": "tool_use", "id": "t", "name": "f", "input": {"q": v}}],
                "stop_reason": "tool_use",
            },
        )
    ),
    "responses function_call": _litellm(lambda p, v: _responses(p, _responses_history(v, "ok"))),
    "responses function_call_output": _litellm(
        lambda p, v: _responses(p, _responses_history("{}", v))
    ),
    "responses instructions": _litellm(
        lambda p, v: _responses(p, _responses_history("{}", "ok"), {"instructions": v})
    ),
    "params.tools": _litellm(lambda p, v: p["model_parameters"].update(tools=_tool_schema(v))),
    "params.response_format": _litellm(
        lambda p, v: p["model_parameters"].update(
            response_format={"type": "json_schema", "json_schema": {"name": "a", "description": v}}
        )
    ),
    "params.stop": _litellm(lambda p, v: p["model_parameters"].update(stop=v)),
    "params key": _litellm(lambda p, v: p["model_parameters"].update({v: 1})),
    "routing cause": _litellm(lambda p, v: p["metadata"]["routing_decision"].update(cause=v)),
    "routing tier_label": _litellm(
        lambda p, v: p["metadata"]["routing_decision"].update(tier_label=v[:128])
    ),
    "team alias": _litellm(lambda p, v: p["metadata"].update(user_api_key_team_alias=v)),
    "end_user": _litellm(lambda p, v: p.update(end_user=v)),
    "request_tags": _litellm(lambda p, v: p.update(request_tags=[v, "x"])),
    "error_str": _litellm(lambda p, v: p.update(status="failure", error_str=v)),
    "model": _litellm(lambda p, v: p.update(model=v[:256])),
    "call_type": _litellm(lambda p, v: p.update(call_type=v)),
}

LITELLM_NESTED: dict[str, Callable[[Any], Body]] = {
    "model_parameters": _litellm(lambda p, v: p["model_parameters"].update(extra=v)),
    "tools schema": _litellm(
        lambda p, v: p["model_parameters"].update(tools=_tool_schema("d", {"deep": v}))
    ),
    "anthropic tool_use input": _litellm(
        lambda p, v: _anthropic(p, _anthropic_history({"q": v}, "ok"))
    ),
    "anthropic tool_result": _litellm(lambda p, v: _anthropic(p, _anthropic_history({}, {"r": v}))),
    "responses arguments": _litellm(lambda p, v: _responses(p, _responses_history({"a": v}, "ok"))),
    "responses output": _litellm(lambda p, v: _responses(p, _responses_history("{}", {"o": v}))),
    "routing decision": _litellm(lambda p, v: p["metadata"]["routing_decision"].update(signals=v)),
    "answer tool call": _litellm(
        lambda p, v: _answer_message(
            p,
            {
                "role": "assistant",
                "tool_calls": [
                    {"type": "function", "function": {"name": "f", "arguments": {"a": v}}}
                ],
            },
        )
    ),
}


# OTLP: one LLM span per request (GenAI semconv unless the field is another convention's),
# sent as OTLP JSON and as protobuf.
def _span_id() -> str:
    return f"{next(_ids):016x}"


def _genai(**extra: Any) -> dict[str, Any]:
    return {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.input.messages": dumps(
            [{"role": "user", "parts": [{"type": "text", "content": "What is 2+2?"}]}]
        ),
        "gen_ai.output.messages": dumps(
            [
                {
                    "role": "assistant",
                    "parts": [{"type": "text", "content": "4"}],
                    "finish_reason": "stop",
                }
            ]
        ),
        **extra,
    }


def _otlp_doc(
    attributes: dict[str, Any],
    *,
    resource: dict[str, Any] | None = None,
    raw_attributes: list[dict[str, Any]] | None = None,
    **span: Any,
) -> dict[str, Any]:
    built = json_span(_span_id(), attributes, **span)
    built["attributes"] += raw_attributes or []
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": [kv(k, v) for k, v in (resource or {}).items()]},
                "scopeSpans": [{"scope": {"name": "fuzz"}, "spans": [built]}],
            }
        ]
    }


def _otlp(make: Callable[[Any], dict[str, Any]]) -> dict[str, Callable[[Any], Body]]:
    def as_json(value: Any) -> Body:
        data = dumps(make(value)).encode()
        return "/v1/traces", data, {"Content-Type": "application/json"}

    def as_protobuf(value: Any) -> Body:
        data = decode_json(dumps(make(value)).encode()).SerializeToString()
        return "/v1/traces", data, {"Content-Type": "application/x-protobuf"}

    return {"json": as_json, "protobuf": as_protobuf}


def _semconv_messages(parts: list[dict[str, Any]], role: str = "user") -> str:
    return dumps([{"role": role, "parts": parts}])


OTLP_TEXT: dict[str, Callable[[Any], dict[str, Any]]] = {
    "input.value": lambda v: _otlp_doc(
        {
            "openinference.span.kind": "LLM",
            "llm.model_name": "gpt-4o-mini",
            "input.value": v,
            "output.value": "4",
        }
    ),
    "output.value": lambda v: _otlp_doc(
        {
            "openinference.span.kind": "LLM",
            "llm.model_name": "m",
            "input.value": "q",
            "output.value": v,
        }
    ),
    "input message text": lambda v: _otlp_doc(
        _genai(**{"gen_ai.input.messages": _semconv_messages([{"type": "text", "content": v}])})
    ),
    "system_instructions": lambda v: _otlp_doc(
        _genai(**{"gen_ai.system_instructions": dumps([{"type": "text", "content": v}])})
    ),
    "tool_call arguments": lambda v: _otlp_doc(
        _genai(
            **{
                "gen_ai.output.messages": _semconv_messages(
                    [{"type": "tool_call", "id": "c1", "name": "f", "arguments": v}], "assistant"
                )
            }
        )
    ),
    "tool_call_response": lambda v: _otlp_doc(
        _genai(
            **{
                "gen_ai.input.messages": dumps(
                    [
                        {"role": "user", "parts": [{"type": "text", "content": "q"}]},
                        {
                            "role": "tool",
                            "parts": [{"type": "tool_call_response", "id": "c1", "response": v}],
                        },
                    ]
                )
            }
        )
    ),
    "openllmetry prompt": lambda v: _otlp_doc(
        {
            "llm.request.type": "chat",
            "gen_ai.request.model": "m",
            "gen_ai.prompt.0.role": "user",
            "gen_ai.prompt.0.content": v,
        }
    ),
    "openllmetry tool arguments": lambda v: _otlp_doc(
        {
            "llm.request.type": "chat",
            "gen_ai.request.model": "m",
            "gen_ai.prompt.0.content": "q",
            "gen_ai.completion.0.tool_calls.0.name": "f",
            "gen_ai.completion.0.tool_calls.0.arguments": v,
        }
    ),
    "openllmetry functions": lambda v: _otlp_doc(
        _genai(**{"llm.request.functions.0.name": "f", "llm.request.functions.0.parameters": v})
    ),
    "tool.definitions": lambda v: _otlp_doc(
        _genai(
            **{
                "gen_ai.tool.definitions": dumps(
                    [{"type": "function", "name": "f", "description": v}]
                )
            }
        )
    ),
    "invocation_parameters": lambda v: _otlp_doc(
        _genai(**{"llm.invocation_parameters": dumps({"stop": v})})
    ),
    "response_format": lambda v: _otlp_doc(_genai(**{"gen_ai.openai.request.response_format": v})),
    "router.reason": lambda v: _otlp_doc(_genai(**{"router.reason": v, "router.tier": v})),
    "tenant.id": lambda v: _otlp_doc(_genai(**{"tenant.id": v, "enduser.id": v})),
    "resource service.name": lambda v: _otlp_doc(_genai(), resource={"service.name": v}),
    "span name": lambda v: _otlp_doc(_genai(), name=v),
    "status message": lambda v: _otlp_doc(_genai(), status={"code": 2, "message": v}),
    "exception event": lambda v: _otlp_doc(
        _genai(),
        status={"code": 2},
        events=[
            {
                "name": "exception",
                "timeUnixNano": "1764590400500000000",
                "attributes": [kv("exception.message", v)],
            }
        ],
    ),
    "message event": lambda v: _otlp_doc(
        {"gen_ai.operation.name": "chat", "gen_ai.request.model": "m"},
        events=[
            {
                "name": "gen_ai.user.message",
                "timeUnixNano": "1764590400500000000",
                "attributes": [kv("content", v)],
            }
        ],
    ),
    "attribute key": lambda v: _otlp_doc(_genai(**{v: "x"})),
    "openllmetry index": lambda v: _otlp_doc(
        {
            "llm.request.type": "chat",
            "gen_ai.request.model": "m",
            "gen_ai.prompt.0.content": "q",
            f"gen_ai.prompt.{v}.content": "x",
            f"gen_ai.completion.0.tool_calls.{v}.name": "f",
        }
    ),
    "gen_ai.prompt legacy": lambda v: _otlp_doc(
        {"gen_ai.operation.name": "chat", "gen_ai.request.model": "m", "gen_ai.prompt": v}
    ),
}


def _kvlist(depth: int) -> dict[str, Any]:
    """An OTLP JSON AnyValue of kvlists nested ``depth`` levels."""
    value: dict[str, Any] = {"stringValue": "x"}
    for _ in range(depth):
        value = {"kvlistValue": {"values": [{"key": "a", "value": value}]}}
    return value


def _kvlist_bodies(depth: int) -> dict[str, Body]:
    """A span with an attribute of kvlists nested ``depth`` levels, as JSON and protobuf
    (built as a message: protobuf's JSON parser refuses the depth before it is sent)."""
    document = _otlp_doc(_genai(), raw_attributes=[{"key": "deep", "value": _kvlist(depth)}])
    request = decode_json(dumps(_otlp_doc(_genai())).encode())
    attribute = request.resource_spans[0].scope_spans[0].spans[0].attributes.add()
    attribute.key = "deep"
    value = attribute.value
    for _ in range(depth):
        pair = value.kvlist_value.values.add()
        pair.key = "a"
        value = pair.value
    value.string_value = "x"
    return {
        "json": ("/v1/traces", dumps(document).encode(), {"Content-Type": "application/json"}),
        "protobuf": (
            "/v1/traces",
            request.SerializeToString(),
            {"Content-Type": "application/x-protobuf"},
        ),
    }


def _kvlist_body(depth: int, encoding: str) -> Body:
    return _kvlist_bodies(depth)[encoding]


KVLIST_DEPTHS = (8, 30, 40, 200)


OTLP_NESTED: dict[str, Callable[[Any], dict[str, Any]]] = {
    "tool_call arguments": lambda v: _otlp_doc(
        _genai(
            **{
                "gen_ai.output.messages": _semconv_messages(
                    [{"type": "tool_call", "id": "c1", "name": "f", "arguments": {"a": v}}],
                    "assistant",
                )
            }
        )
    ),
    "tool_call_response": lambda v: _otlp_doc(
        _genai(
            **{
                "gen_ai.input.messages": dumps(
                    [
                        {"role": "user", "parts": [{"type": "text", "content": "q"}]},
                        {
                            "role": "tool",
                            "parts": [
                                {"type": "tool_call_response", "id": "c", "response": {"r": v}}
                            ],
                        },
                    ]
                )
            }
        )
    ),
    "input message content": lambda v: _otlp_doc(
        _genai(
            **{
                "gen_ai.input.messages": dumps(
                    [{"role": "user", "content": [{"type": "x", "v": v}]}]
                )
            }
        )
    ),
    "invocation_parameters": lambda v: _otlp_doc(
        _genai(**{"llm.invocation_parameters": dumps({"extra": v})})
    ),
    "tool.definitions": lambda v: _otlp_doc(
        _genai(
            **{
                "gen_ai.tool.definitions": dumps(
                    [{"type": "function", "name": "f", "parameters": v}]
                )
            }
        )
    ),
    "input.value": lambda v: _otlp_doc(
        {
            "openinference.span.kind": "LLM",
            "llm.model_name": "m",
            "input.value": dumps({"messages": v}),
        }
    ),
}


# OTLP logs: a span without content first (it waits), then the log record that carries its
# content (``gen_ai.client.inference.operation.details``), joined to it and mapped.
_LOG_SPAN = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "openai",
    "gen_ai.request.model": "gpt-4o-mini",
}


def _log_record(span_id: str, attributes: dict[str, Any], body: Any = None) -> dict[str, Any]:
    record: dict[str, Any] = {
        "timeUnixNano": "1764590401000000000",
        "eventName": "gen_ai.client.inference.operation.details",
        "traceId": "5b8efff798038103d269b633813fc60c",
        "spanId": span_id,
        "attributes": [kv(k, v) for k, v in attributes.items()],
    }
    if body is not None:
        record["body"] = kv("", body)["value"]
    return record


def _logs(make: Callable[[Any, str], dict[str, Any]]) -> dict[str, Callable[[Any], list[Body]]]:
    def bodies(value: Any, encoding: str) -> list[Body]:
        span = _otlp_doc(_LOG_SPAN)
        span_id = span["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["spanId"]
        logs = {
            "resourceLogs": [
                {
                    "resource": {"attributes": []},
                    "scopeLogs": [
                        {"scope": {"name": "fuzz"}, "logRecords": [make(value, span_id)]}
                    ],
                }
            ]
        }
        if encoding == "json":
            return [
                ("/v1/traces", dumps(span).encode(), {"Content-Type": "application/json"}),
                ("/v1/logs", dumps(logs).encode(), {"Content-Type": "application/json"}),
            ]
        protobuf = {"Content-Type": "application/x-protobuf"}
        logs_request = otlp_logs.decode_request(dumps(logs).encode(), "json")
        return [
            ("/v1/traces", decode_json(dumps(span).encode()).SerializeToString(), protobuf),
            ("/v1/logs", logs_request.SerializeToString(), protobuf),
        ]

    return {
        "json": partial(_bodies_of, bodies, "json"),
        "protobuf": partial(_bodies_of, bodies, "protobuf"),
    }


def _bodies_of(bodies: Callable[[Any, str], list[Body]], encoding: str, value: Any) -> list[Body]:
    return bodies(value, encoding)


def _details(**attributes: Any) -> dict[str, Any]:
    return {
        "gen_ai.input.messages": _semconv_messages([{"type": "text", "content": "q"}]),
        "gen_ai.output.messages": _semconv_messages(
            [{"type": "text", "content": "a"}], "assistant"
        ),
        **attributes,
    }


LOGS_TEXT: dict[str, Callable[[Any, str], dict[str, Any]]] = {
    "input message text": lambda v, s: _log_record(
        s,
        _details(**{"gen_ai.input.messages": _semconv_messages([{"type": "text", "content": v}])}),
    ),
    "tool_call arguments": lambda v, s: _log_record(
        s,
        _details(
            **{
                "gen_ai.output.messages": _semconv_messages(
                    [{"type": "tool_call", "id": "c1", "name": "f", "arguments": v}], "assistant"
                )
            }
        ),
    ),
    "record body": lambda v, s: _log_record(s, _details(), body=v),
    "record attribute": lambda v, s: _log_record(s, _details(**{"note": v})),
}
LOGS_NESTED: dict[str, Callable[[Any, str], dict[str, Any]]] = {
    "tool_call arguments": lambda v, s: _log_record(
        s,
        _details(
            **{
                "gen_ai.output.messages": _semconv_messages(
                    [{"type": "tool_call", "id": "c1", "name": "f", "arguments": {"a": v}}],
                    "assistant",
                )
            }
        ),
    ),
}


# --- the run ------------------------------------------------------------------------------------


@dataclass
class Sent:
    label: str
    status: int
    started: float
    seconds: float
    stored: bool
    must_store: bool


def _cases() -> Iterator[tuple[str, Callable[[], Body | list[Body]], bool]]:
    """(label, body builder, whether plain text must be stored) for every route, field and
    string; nesting cases last."""
    otlp_text = {
        f"{name} ({encoding})": build
        for name, make in OTLP_TEXT.items()
        for encoding, build in _otlp(make).items()
    }
    logs_text = {
        f"{name} ({encoding})": build
        for name, make in LOGS_TEXT.items()
        for encoding, build in _logs(make).items()
    }
    Builds = dict[str, Callable[[Any], Body | list[Body]]]
    routes: dict[str, Builds] = {
        "native": dict(NATIVE_TEXT),
        "litellm": dict(LITELLM_TEXT),
        "otlp": dict(otlp_text),
        "logs": dict(logs_text),
    }
    kinds = list(PATHOLOGICAL)
    for route, fields in routes.items():
        for index, (field, build) in enumerate(fields.items()):
            for number, kind in enumerate(kinds):
                if not (FULL or kind == "letters" or (index + number) % SHARE == 0):
                    continue
                text = PATHOLOGICAL[kind]
                # An unknown call_type is skipped (not text generation), as LiteLLM expects.
                must = kind == "letters" and field != "call_type"
                yield f"{route} {field} {kind}", partial(build, text), must
    huge = {
        "native prompt": NATIVE_TEXT["user message"],
        "litellm prompt": LITELLM_TEXT["messages content"],
        "otlp prompt": _otlp(OTLP_TEXT["input.value"])["json"],
        "litellm params key": LITELLM_TEXT["params key"],
        "otlp attribute key": _otlp(OTLP_TEXT["attribute key"])["protobuf"],
        "otlp openllmetry index": _otlp(OTLP_TEXT["openllmetry index"])["json"],
    }
    for place, build in huge.items():
        for kind in HUGE_KINDS:
            text = _repeat(UNITS[kind], HUGE)
            yield f"{place} {kind} x{HUGE}", partial(build, text), False
    otlp_nested = {
        f"{name} ({encoding})": build
        for name, make in OTLP_NESTED.items()
        for encoding, build in _otlp(make).items()
    }
    logs_nested = {
        f"{name} ({encoding})": build
        for name, make in LOGS_NESTED.items()
        for encoding, build in _logs(make).items()
    }
    nesting: dict[str, Builds] = {
        "native": dict(NATIVE_NESTED),
        "litellm": dict(LITELLM_NESTED),
        "otlp": dict(otlp_nested),
        "logs": dict(logs_nested),
    }
    for route, fields in nesting.items():
        for field, build in fields.items():
            for depth in DEPTHS:
                yield (
                    f"{route} {field} nested {depth}",
                    partial(build, nested(depth)),
                    False,
                )
    for depth in KVLIST_DEPTHS:
        for encoding in ("json", "protobuf"):
            yield (
                f"otlp kvlist ({encoding}) nested {depth}",
                partial(_kvlist_body, depth, encoding),
                False,
            )


def _stored(response: httpx.Response) -> bool:
    """A 200 that took its event (OTLP answers 200 with partial_success for a refused span)."""
    if response.status_code != 200:
        return False
    if response.headers.get("content-type", "").startswith("application/x-protobuf"):
        return b"rejected" not in response.content and not response.content
    body = response.json()
    return body.get("accepted", 1) >= 1 and "partialSuccess" not in body


@pytest.fixture
def live_postgres_api(production: str, tmp_path: Path) -> Iterator[str]:
    """The API in its own uvicorn process on the test's PostgreSQL database and Redis."""
    from shadowgap.config import get_settings

    settings = get_settings()
    port = free_port()
    process = start_api(
        port, production, settings.broker_url, tmp_path / "api.log", api_keys=API_KEYS
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=30)
        log = (tmp_path / "api.log").read_text(errors="replace")
        print(log[-4000:])


def test_fuzz_every_route_and_field(live_postgres_api: str, production: str) -> None:
    url = live_postgres_api
    headers = {"Authorization": f"Bearer {API_KEY}"}
    sent: list[Sent] = []
    with HealthProbe(url) as probe, httpx.Client(timeout=120) as sender:
        # Probes of an idle server first: the machine's own noise, to read the figures by.
        time.sleep(IDLE_SECONDS)
        for label, build, must_store in _cases():
            built = build()
            *before, (path, data, extra) = built if isinstance(built, list) else [built]
            started = time.time()
            for first_path, first_data, first_extra in before:  # the span a log record joins
                answer = sender.post(
                    url + first_path, content=first_data, headers={**headers, **first_extra}
                )
                assert answer.status_code < 500, (label, answer.status_code, answer.text[:300])
            response = sender.post(url + path, content=data, headers={**headers, **extra})
            seconds = time.time() - started
            stored = _stored(response)
            if response.status_code >= 500 or (must_store and not stored):
                print(label, response.status_code, response.text[:300])
            sent.append(Sent(label, response.status_code, started, seconds, stored, must_store))

    first = sent[0].started
    idle = [s for s, at in zip(probe.seconds, probe.started, strict=True) if at < first]
    busy = [(s, at) for s, at in zip(probe.seconds, probe.started, strict=True) if at >= first]
    busy_seconds = sorted(s for s, _ in busy)
    p99 = _quantile(busy_seconds, 0.99)
    statuses: dict[int, int] = {}
    for item in sent:
        statuses[item.status] = statuses.get(item.status, 0) + 1
    print(
        f"\n{len(sent)} requests in {sum(s.seconds for s in sent):.1f} s, statuses {statuses}\n"
        f"/healthz idle ({len(idle)} probes): p50 {_quantile(sorted(idle), 0.5) * 1000:.1f} ms, "
        f"p99 {_quantile(sorted(idle), 0.99) * 1000:.1f} ms\n"
        f"/healthz under fuzz ({len(busy)} probes): "
        f"p50 {_quantile(busy_seconds, 0.5) * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms, "
        f"max {busy_seconds[-1] * 1000:.1f} ms"
    )
    for seconds, at in sorted(busy, reverse=True)[:10]:
        in_flight = [
            s.label for s in sent if s.started <= at + seconds and s.started + s.seconds >= at
        ]
        print(f"  probe {seconds * 1000:.0f} ms during {in_flight}")
    for item in sorted(sent, key=lambda s: -s.seconds)[:8]:
        print(f"  slowest request {item.seconds * 1000:.0f} ms: {item.label}")

    server_errors = [(s.label, s.status) for s in sent if s.status >= 500]
    assert server_errors == []
    must = [s for s in sent if s.must_store]
    refused_plain = [(s.label, s.status) for s in must if not s.stored]
    assert must and refused_plain == [], refused_plain
    engine = create_engine(production)
    with engine.connect() as connection:
        rows = connection.execute(
            select(func.count()).select_from(models.TrafficEvent)
        ).scalar_one()
    engine.dispose()
    assert rows >= len(must)
    assert len(busy) > 100
    assert p99 < 0.1, busy_seconds[-10:]


def _quantile(ordered: list[float], share: float) -> float:
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else 0.0
