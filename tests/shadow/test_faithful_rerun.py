"""A faithful re-run: what the flagship receives equals what the cheap model received, less
only the documented exclusions (docs/how-it-works.md, "What the flagship is sent").

Each path (native events, LiteLLM's logging callback in chat, Anthropic Messages and
Responses API shapes, an OTLP span of the GenAI semantic conventions) ingests an agentic
request through the real API: a conversation with a tool call and its result, tools, and what
the format carries of tool_choice, response_format, stop, seed and top_p. The event is sampled
and re-run on an OpenAI-compatible flagship that is a real local HTTP server recording the
request body (tests/shadow/recording_flagship.py); it answers with a tool call, which is
stored structured.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from shadowgap.config import get_settings
from shadowgap.db import models
from shadowgap.db.engine import session_scope
from shadowgap.llm.openai_compat import OpenAICompatClient
from shadowgap.privacy import originals
from shadowgap.shadow.runs import run_shadow
from tests.support.recording_flagship import TOOL_CALL, RecordingFlagship
from tests.support.settings import auth
from tests.support.tools import SUMMARY_FORMAT, TRAVEL_TOOLS

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "litellm"
FLAGSHIP_MODEL = "flagship-under-test"
EMAIL = "ana.lima@example.com"

TOOLS = TRAVEL_TOOLS
RESPONSE_FORMAT = SUMMARY_FORMAT

# The conversation as the cheap model got it: OpenAI's chat shapes, a parallel pair of tool
# calls, their results (one with an address that redaction replaces at rest), content parts.
MESSAGES: list[dict[str, Any]] = [
    {"role": "system", "content": "You are a travel assistant. Use the tools."},
    {"role": "user", "content": "Weather in Paris and Lisbon? Mail it to me.", "name": "ana"},
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_paris",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
            },
            {
                "id": "call_lisbon",
                "type": "function",
                "function": {
                    "name": "get_weather",
                    "arguments": '{"city":"Lisbon","unit":"celsius"}',
                },
            },
        ],
    },
    {"role": "tool", "tool_call_id": "call_paris", "content": "14C, light rain"},
    {
        "role": "tool",
        "tool_call_id": "call_lisbon",
        "content": [{"type": "text", "text": f"21C, sunny (station contact {EMAIL})"}],
    },
    {"role": "assistant", "content": "Paris 14C and rainy, Lisbon 21C and sunny."},
    {"role": "user", "content": [{"type": "text", "text": "And Rome? Same format please."}]},
]
# What the cheap model got besides the messages. Forwarded: everything that shapes the
# answer. Dropped (documented): model, stream, stream_options, n, user, metadata, store.
PARAMS: dict[str, Any] = {
    "tools": TOOLS,
    "tool_choice": "auto",
    "parallel_tool_calls": False,
    "response_format": RESPONSE_FORMAT,
    "stop": ["\nObservation:"],
    "seed": 1234,
    "top_p": 0.9,
    "temperature": 0.3,
    "max_tokens": 300,
    "frequency_penalty": 0.1,
}
DROPPED = {
    "stream": False,
    "n": 1,
    "user": "end-user-42",
    "metadata": {"run": "nightly"},
    "store": True,
}
CHEAP_CALL = {
    "id": "call_rome",
    "type": "function",
    "function": {"name": "get_weather", "arguments": '{"city": "Rome"}'},
}


def expected_body(messages: list[dict[str, Any]], params: dict[str, Any]) -> dict[str, Any]:
    """The flagship request the cheap request should become: the flagship's model, the same
    messages and the forwarded params, with the budget capped by flagship_max_tokens."""
    body = {"model": FLAGSHIP_MODEL, "messages": messages, **params}
    body["max_tokens"] = min(params["max_tokens"], get_settings().flagship_max_tokens)
    return body


@pytest.fixture
def flagship() -> Iterator[RecordingFlagship]:
    server = RecordingFlagship()
    yield server
    server.close()


@pytest.fixture
def sampled_everything(any_db: str, configure: Any) -> str:
    configure(sampling_min_rate=1.0, noise_floor_fraction=0.0)
    return any_db


def _rerun(event_id: str, flagship: RecordingFlagship) -> tuple[int, dict[str, Any]]:
    """Re-run the sampled event on the recording flagship; its pk and the body received."""
    client = OpenAICompatClient(
        base_url=flagship.url("/v1"), api_key=None, model=FLAGSHIP_MODEL, max_retries=0
    )
    with session_scope() as session:
        event = session.scalars(
            select(models.TrafficEvent).where(models.TrafficEvent.event_id == event_id)
        ).one()
        decision = session.scalars(
            select(models.SamplingDecision).where(models.SamplingDecision.event_pk == event.id)
        ).one_or_none()
        assert decision is not None, "the agentic event was not sampled"
        run = run_shadow(session, event.id, 0, client, get_settings())
        assert run.status == "ok"
        # The flagship's answer is a tool call: stored structured, not as ''-only prose.
        assert run.answer == ""
        assert run.answer_tool_calls == [TOOL_CALL]
        assert run.finish_reason == "tool_calls"
        pk = event.id
    bodies = flagship.bodies()
    assert len(bodies) == 1
    return pk, bodies[0]


def _stored(pk: int) -> models.TrafficEvent:
    with session_scope() as session:
        event = session.get(models.TrafficEvent, pk)
        assert event is not None
        session.expunge(event)
        return event


def test_native_agentic_event_reruns_as_sent(
    sampled_everything: str, client: TestClient, flagship: RecordingFlagship
) -> None:
    event = {
        "event_id": "agentic-native-1",
        "timestamp": "2026-11-02T12:00:00Z",
        # The OpenAI request body as the app sent it: params at the top level.
        "request": {"model": "gpt-4o-mini", "messages": MESSAGES, **PARAMS, **DROPPED},
        "route": {"tier": "cheap", "model": "gpt-4o-mini"},
        "answer": {"role": "assistant", "content": None, "tool_calls": [CHEAP_CALL]},
        "finish_reason": "tool_calls",
        "usage": {"prompt_tokens": 200, "completion_tokens": 20, "total_tokens": 220},
        "attributes": {"tenant": "travel"},
    }
    response = client.post("/v1/events", json=event, headers=auth())
    assert response.status_code == 200, response.text
    assert response.json()["sampled"] == 1

    pk, body = _rerun("agentic-native-1", flagship)
    assert body == expected_body(MESSAGES, PARAMS)

    stored = _stored(pk)
    assert (stored.answer, stored.answer_tool_calls, stored.finish_reason) == (
        "",
        [CHEAP_CALL],
        "tool_calls",
    )
    # At rest the tool result is redacted; the flagship got the original (above).
    assert EMAIL not in json.dumps(stored.request) and "[EMAIL]" in json.dumps(stored.request)
    assert stored.request["params"]["user"] == "end-user-42"  # kept, but not forwarded


def _litellm_payload(
    messages: Any, params: dict[str, Any], response: dict[str, Any], call_type: str
) -> dict[str, Any]:
    """A real captured StandardLoggingPayload (cheap tier, complexity router) carrying another
    request and response."""
    payload = json.loads((FIXTURES / "single_0.json").read_text())
    payload = copy.deepcopy(payload[0] if isinstance(payload, list) else payload)
    payload.update(
        id=f"litellm-{call_type}-agentic",
        call_type=call_type,
        messages=messages,
        model_parameters=params,
        response=response,
    )
    return payload


def _chat_response(message: dict[str, Any], finish_reason: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-cheap",
        "created": 1795822760,
        "model": "gpt-4o-mini",
        "object": "chat.completion",
        "choices": [{"finish_reason": finish_reason, "index": 0, "message": message}],
        "usage": {"completion_tokens": 20, "prompt_tokens": 200, "total_tokens": 220},
    }


def _ingest_litellm(client: TestClient, payload: dict[str, Any]) -> None:
    response = client.post("/v1/ingest/litellm", json=[payload], headers=auth())
    assert response.status_code == 200, response.text
    assert response.json()["sampled"] == 1, response.json()


def test_litellm_chat_agentic_call_reruns_as_sent(
    sampled_everything: str, client: TestClient, flagship: RecordingFlagship
) -> None:
    # LiteLLM logs the messages as given and the OpenAI params in model_parameters; the
    # answer message carries the null keys LiteLLM's Message has.
    answer = {
        "content": None,
        "role": "assistant",
        "tool_calls": [CHEAP_CALL],
        "function_call": None,
        "provider_specific_fields": {"refusal": None},
    }
    params = {**PARAMS, "stream": False, "user": "end-user-42"}
    payload = _litellm_payload(
        MESSAGES, params, _chat_response(answer, "tool_calls"), "acompletion"
    )
    _ingest_litellm(client, payload)

    pk, body = _rerun(payload["id"], flagship)
    assert body == expected_body(MESSAGES, PARAMS)
    stored = _stored(pk)
    assert (stored.answer, stored.answer_tool_calls, stored.finish_reason) == (
        "",
        [CHEAP_CALL],
        "tool_calls",
    )


def test_litellm_anthropic_messages_rerun_as_the_chat_request(
    sampled_everything: str, client: TestClient, flagship: RecordingFlagship
) -> None:
    messages = [
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Checking."},
                {
                    "type": "tool_use",
                    "id": "toolu_01",
                    "name": "get_weather",
                    "input": {"city": "Paris"},
                },
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_01", "content": "14C, rain"},
                {"type": "text", "text": "And Rome?", "cache_control": {"type": "ephemeral"}},
            ],
        },
    ]
    tool = TOOLS[0]["function"]
    params = {
        "system": "You are a travel assistant.",
        "tools": [
            {
                "name": tool["name"],
                "description": tool["description"],
                "input_schema": tool["parameters"],
            }
        ],
        "tool_choice": {"type": "any", "disable_parallel_tool_use": True},
        "stop_sequences": ["\nObservation:"],
        "max_tokens": 300,
        "temperature": 0.3,
        "top_p": 0.9,
    }
    response = {
        "id": "msg_01",
        "type": "message",
        "role": "assistant",
        "model": "claude-haiku-4-5",
        "content": [
            {"type": "tool_use", "id": "toolu_02", "name": "get_weather", "input": {"city": "Rome"}}
        ],
        "stop_reason": "tool_use",
        "usage": {"input_tokens": 200, "output_tokens": 20},
    }
    payload = _litellm_payload(messages, params, response, "anthropic_messages")
    _ingest_litellm(client, payload)

    pk, body = _rerun(payload["id"], flagship)
    chat_messages = [
        {"role": "system", "content": "You are a travel assistant."},
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": "Checking.",
            "tool_calls": [
                {
                    "id": "toolu_01",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "toolu_01", "content": "14C, rain"},
        {"role": "user", "content": [{"type": "text", "text": "And Rome?"}]},
    ]
    chat_tool = {k: v for k, v in tool.items() if k != "strict"}
    chat_params = {
        "tools": [{"type": "function", "function": chat_tool}],
        "tool_choice": "required",
        "parallel_tool_calls": False,
        "stop": ["\nObservation:"],
        "max_tokens": 300,
        "temperature": 0.3,
        "top_p": 0.9,
    }
    assert body == expected_body(chat_messages, chat_params)
    stored = _stored(pk)
    assert stored.answer_tool_calls == [
        {
            "id": "toolu_02",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city": "Rome"}'},
        }
    ]
    assert (stored.answer, stored.finish_reason) == ("", "tool_calls")


def test_litellm_responses_api_rerun_as_the_chat_request(
    sampled_everything: str, client: TestClient, flagship: RecordingFlagship
) -> None:
    tool = TOOLS[0]["function"]
    items = [
        {"role": "user", "content": [{"type": "input_text", "text": "Weather in Paris?"}]},
        {
            "type": "function_call",
            "id": "fc_01",
            "call_id": "call_paris",
            "name": "get_weather",
            "arguments": '{"city":"Paris"}',
            "status": "completed",
        },
        {"type": "function_call_output", "call_id": "call_paris", "output": "14C, rain"},
        {"role": "user", "content": "And Rome?"},
    ]
    params = {
        "instructions": "You are a travel assistant.",
        "tools": [{"type": "function", **tool}],
        "tool_choice": {"type": "function", "name": "get_weather"},
        "text": {
            "format": {
                "type": "json_schema",
                "name": "forecast",
                "schema": RESPONSE_FORMAT["json_schema"]["schema"],
                "strict": True,
            }
        },
        "max_output_tokens": 300,
        "reasoning": {"effort": "low"},
        "temperature": 0.3,
        "top_p": 0.9,
        "store": False,
    }
    response = {
        "id": "resp_01",
        "object": "response",
        "status": "completed",
        "model": "gpt-4.1-mini",
        "output": [
            {
                "type": "function_call",
                "id": "fc_02",
                "call_id": "call_rome",
                "name": "get_weather",
                "arguments": '{"city":"Rome"}',
                "status": "completed",
            }
        ],
        "usage": {"input_tokens": 200, "output_tokens": 20, "total_tokens": 220},
    }
    payload = _litellm_payload(items, params, response, "aresponses")
    _ingest_litellm(client, payload)

    pk, body = _rerun(payload["id"], flagship)
    chat_messages = [
        {"role": "system", "content": "You are a travel assistant."},
        {"role": "user", "content": [{"type": "text", "text": "Weather in Paris?"}]},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_paris",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_paris", "content": "14C, rain"},
        {"role": "user", "content": "And Rome?"},
    ]
    cap = min(300, get_settings().flagship_max_tokens)
    assert body == {
        "model": FLAGSHIP_MODEL,
        "messages": chat_messages,
        "tools": [{"type": "function", "function": tool}],
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
        "response_format": RESPONSE_FORMAT,
        "max_completion_tokens": cap,
        "reasoning_effort": "low",
        "temperature": 0.3,
        "top_p": 0.9,
    }
    stored = _stored(pk)
    assert stored.answer_tool_calls == [
        {
            "id": "call_rome",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city":"Rome"}'},
        }
    ]
    assert stored.finish_reason == "tool_calls"


def test_redacted_tool_arguments_are_judged_from_the_originals(
    embedded: str, configure: Any, client: TestClient, flagship: RecordingFlagship
) -> None:
    configure(sampling_min_rate=1.0, noise_floor_fraction=0.0)
    call = {
        "id": "call_mail",
        "type": "function",
        "function": {"name": "send_email", "arguments": json.dumps({"to": EMAIL, "body": "hi"})},
    }
    event = {
        "event_id": "agentic-mail",
        "timestamp": "2026-11-02T12:00:00Z",
        "request": {"messages": [{"role": "user", "content": f"Mail {EMAIL} hi"}], "tools": TOOLS},
        "route": {"tier": "cheap", "model": "gpt-4o-mini"},
        "answer": {"content": None, "tool_calls": [call]},
        "finish_reason": "tool_calls",
    }
    assert client.post("/v1/events", json=event, headers=auth()).status_code == 200
    flagship.message = {"role": "assistant", "content": None, "tool_calls": [call]}
    client_ = OpenAICompatClient(
        base_url=flagship.url("/v1"), api_key=None, model=FLAGSHIP_MODEL, max_retries=0
    )
    with session_scope() as session:
        stored = session.scalars(
            select(models.TrafficEvent).where(models.TrafficEvent.event_id == "agentic-mail")
        ).one()
        run = run_shadow(session, stored.id, 0, client_, get_settings())
        # At rest: placeholders in both answers' arguments.
        assert EMAIL not in json.dumps(stored.answer_tool_calls)
        assert EMAIL not in json.dumps(run.answer_tool_calls)
        kept = originals.read(session, stored.id)
        # The judge's view: the originals, identical calls.
        cheap = originals.tool_calls(kept, originals.ANSWER, stored.answer_tool_calls)
        flagship_calls = originals.tool_calls(
            kept, originals.flagship_part(0), run.answer_tool_calls
        )
        assert cheap == flagship_calls == [call]
    assert flagship.bodies()[0]["messages"] == [{"role": "user", "content": f"Mail {EMAIL} hi"}]


def _kv(key: str, value: Any) -> dict[str, Any]:
    if isinstance(value, float):
        return {"key": key, "value": {"doubleValue": value}}
    if isinstance(value, int):
        return {"key": key, "value": {"intValue": str(value)}}
    if isinstance(value, list):
        values = [{"stringValue": v} for v in value]
        return {"key": key, "value": {"arrayValue": {"values": values}}}
    return {"key": key, "value": {"stringValue": value}}


def test_otlp_semconv_agentic_span_reruns_as_sent(
    sampled_everything: str, configure: Any, client: TestClient, flagship: RecordingFlagship
) -> None:
    configure(cheap_routes="gpt-4o-mini", sampling_min_rate=1.0, noise_floor_fraction=0.0)
    tool = TOOLS[0]["function"]
    semconv_input = [
        {"role": "user", "parts": [{"type": "text", "content": "Weather in Paris?"}]},
        {
            "role": "assistant",
            "parts": [
                {"type": "tool_call", "id": "call_paris", "name": "get_weather",
                 "arguments": {"city": "Paris"}},
            ],
        },
        {
            "role": "tool",
            "parts": [{"type": "tool_call_response", "id": "call_paris", "response": "14C"}],
        },
        {"role": "user", "parts": [{"type": "text", "content": "And Rome?"}]},
    ]  # fmt: skip
    semconv_output = [
        {
            "role": "assistant",
            "parts": [{"type": "tool_call", "id": "call_rome", "name": "get_weather",
                       "arguments": {"city": "Rome"}}],
            "finish_reason": "tool_call",
        }
    ]  # fmt: skip
    attributes = {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.system_instructions": json.dumps([{"type": "text", "content": "Be brief."}]),
        "gen_ai.input.messages": json.dumps(semconv_input),
        "gen_ai.output.messages": json.dumps(semconv_output),
        "gen_ai.tool.definitions": json.dumps([{"type": "function", **tool}]),
        "gen_ai.request.temperature": 0.3,
        "gen_ai.request.top_p": 0.9,
        "gen_ai.request.seed": 1234,
        "gen_ai.request.max_tokens": 300,
        "gen_ai.request.stop_sequences": ["\nObservation:"],
        "gen_ai.openai.request.response_format": "json_object",
        "gen_ai.usage.input_tokens": 200,
        "gen_ai.usage.output_tokens": 20,
    }
    span = {
        "traceId": "5b8efff798038103d269b633813fc60c",
        "spanId": "00f067aa0ba902b7",
        "name": "chat gpt-4o-mini",
        "kind": 3,
        "startTimeUnixNano": "1764590400000000000",
        "endTimeUnixNano": "1764590401250000000",
        "attributes": [_kv(k, v) for k, v in attributes.items()],
        "status": {"code": 1},
    }
    scope = {"scope": {"name": "handwritten"}, "spans": [span]}
    body = {"resourceSpans": [{"resource": {}, "scopeSpans": [scope]}]}
    response = client.post(
        "/v1/traces", json=body, headers={**auth(), "Content-Type": "application/json"}
    )
    assert response.status_code == 200, response.text

    event_id = "otlp-5b8efff798038103d269b633813fc60c-00f067aa0ba902b7"
    pk, received = _rerun(event_id, flagship)
    assert received == expected_body(
        [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Weather in Paris?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_paris",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                    }
                ],
            },
            {"role": "tool", "content": "14C", "tool_call_id": "call_paris"},
            {"role": "user", "content": "And Rome?"},
        ],
        {
            "tools": [{"type": "function", "function": tool}],
            "temperature": 0.3,
            "top_p": 0.9,
            "seed": 1234,
            "max_tokens": 300,
            "stop": ["\nObservation:"],
            "response_format": {"type": "json_object"},
        },
    )
    stored = _stored(pk)
    assert stored.answer_tool_calls == [
        {
            "id": "call_rome",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city":"Rome"}'},
        }
    ]
    assert (stored.answer, stored.finish_reason) == ("", "tool_calls")
