"""The LiteLLM path keeps what an agent sent: tool calls and their ids in the history, tool
turns, Anthropic ``tool_use``/``tool_result`` blocks and Responses API ``function_call`` /
``function_call_output`` items (as the OpenAI chat request), and an answer that is a tool call
as a structured answer, not NULL.

Payloads are the real captured StandardLoggingPayload (tests/fixtures/litellm/single_0.json,
LiteLLM 1.110.2) carrying the agentic request and response in the shapes LiteLLM logs them:
``messages`` as the caller sent them, ``model_parameters`` the OpenAI-named parameters, and
``response`` the provider response object (chat completion, Anthropic message or Responses
API response).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from shadowgap.ingest.litellm import litellm_to_event, parse_litellm

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "litellm"
BASE = json.loads((FIXTURES / "single_0.json").read_text())
BASE = BASE[0] if isinstance(BASE, list) else BASE
CALL = {
    "id": "call_abc",
    "type": "function",
    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
}


def payload(**fields: Any) -> dict[str, Any]:
    data = copy.deepcopy(BASE)
    data.update(fields)
    return data


def chat_response(message: dict[str, Any], finish_reason: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": "gpt-4o-mini",
        "choices": [{"index": 0, "finish_reason": finish_reason, "message": message}],
    }


def messages(event: Any) -> list[dict[str, Any]]:
    return list(event.request.model_dump(mode="json")["messages"])


def test_chat_history_keeps_tool_calls_ids_and_tool_turns() -> None:
    history = [
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [CALL],
            "function_call": None,
            "provider_specific_fields": None,
        },
        {"role": "tool", "tool_call_id": "call_abc", "name": "get_weather", "content": "14C"},
        {"role": "user", "content": "Thanks"},
    ]
    answer = {"role": "assistant", "content": "You're welcome.", "tool_calls": None}
    event = litellm_to_event(payload(messages=history, response=chat_response(answer, "stop")), 0)
    assert messages(event) == [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": None, "tool_calls": [CALL]},
        {"role": "tool", "content": "14C", "name": "get_weather", "tool_call_id": "call_abc"},
        {"role": "user", "content": "Thanks"},
    ]
    assert (event.answer, event.answer_finish_reason()) == ("You're welcome.", "stop")


def test_tool_call_answer_is_structured_not_null() -> None:
    answer = {"role": "assistant", "content": None, "tool_calls": [CALL], "function_call": None}
    body = json.dumps(
        [
            payload(
                id="tool-answer",
                messages=[{"role": "user", "content": "Weather?"}],
                model_parameters={"tools": [], "tool_choice": "required", "stream": False},
                response=chat_response(answer, "tool_calls"),
            )
        ]
    ).encode()
    (event,) = parse_litellm(body)
    assert event.answer_text() == ""
    assert event.answer_tool_calls() == [CALL]
    assert event.answer_finish_reason() == "tool_calls"
    assert event.request.params == {"tools": [], "tool_choice": "required"}


def test_legacy_function_call_and_refusal_answers() -> None:
    legacy = {"role": "assistant", "content": None, "function_call": CALL["function"]}
    event = litellm_to_event(payload(response=chat_response(legacy, "function_call")), 0)
    assert event.answer_tool_calls() == [{"type": "function", "function": CALL["function"]}]
    refusal = {"role": "assistant", "content": None, "refusal": "I can't."}
    event = litellm_to_event(payload(response=chat_response(refusal, "stop")), 0)
    assert (event.answer_text(), event.refused) == ("I can't.", True)


def test_anthropic_messages_become_the_chat_conversation() -> None:
    history = [
        {"role": "user", "content": [{"type": "text", "text": "Weather in Paris?"}]},
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "need the tool", "signature": "sig"},
                {
                    "type": "tool_use",
                    "id": "toolu_1",
                    "name": "get_weather",
                    "input": {"city": "Paris"},
                },
                {"type": "tool_use", "id": "toolu_2", "name": "get_time", "input": {}},
            ],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_1",
                    "content": [{"type": "text", "text": "14C"}],
                },
                {"type": "tool_result", "tool_use_id": "toolu_2", "content": "09:00"},
                {
                    "type": "image",
                    "source": {"type": "base64", "media_type": "image/png", "data": "iVBOR"},
                },
            ],
        },
    ]
    params = {
        "system": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
        "tools": [
            {"name": "get_weather", "input_schema": {"type": "object"}},
            {"type": "web_search_20250305", "name": "web_search"},
        ],
        "tool_choice": {"type": "tool", "name": "get_weather"},
        "max_tokens": 256,
    }
    response = {
        "type": "message",
        "role": "assistant",
        "content": [{"type": "text", "text": "Paris: 14C at 09:00."}],
        "stop_reason": "max_tokens",
    }
    event = litellm_to_event(
        payload(
            call_type="anthropic_messages",
            messages=history,
            model_parameters=params,
            response=response,
        ),
        0,
    )
    assert messages(event) == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": "Weather in Paris?"}]},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "toolu_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                },
                {
                    "id": "toolu_2",
                    "type": "function",
                    "function": {"name": "get_time", "arguments": "{}"},
                },
            ],
        },
        {"role": "tool", "content": "14C", "tool_call_id": "toolu_1"},
        {"role": "tool", "content": "09:00", "tool_call_id": "toolu_2"},
        {
            "role": "user",
            "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBOR"}}],
        },
    ]
    assert event.request.params == {
        "tools": [
            {
                "type": "function",
                "function": {"name": "get_weather", "parameters": {"type": "object"}},
            },
            {"type": "web_search_20250305", "name": "web_search"},
        ],
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
        "max_tokens": 256,
    }
    # A text answer stays a text answer; Anthropic's stop reason in OpenAI's words.
    assert (event.answer, event.answer_finish_reason()) == ("Paris: 14C at 09:00.", "length")


def test_responses_items_become_the_chat_conversation() -> None:
    items = [
        {"type": "message", "role": "user", "content": "Paris and Rome?"},
        {"type": "reasoning", "id": "rs_1", "summary": []},
        {"type": "function_call", "call_id": "c1", "name": "w", "arguments": '{"city":"Paris"}'},
        {"type": "function_call", "call_id": "c2", "name": "w", "arguments": '{"city":"Rome"}'},
        {"type": "function_call_output", "call_id": "c1", "output": "14C"},
        {"type": "function_call_output", "call_id": "c2", "output": "20C"},
    ]
    response = {
        "object": "response",
        "status": "incomplete",
        "incomplete_details": {"reason": "max_output_tokens"},
        "output": [
            {"type": "reasoning", "id": "rs_2", "summary": []},
            {
                "type": "message",
                "role": "assistant",
                "content": [{"type": "output_text", "text": "Paris 14C, Rome", "annotations": []}],
            },
        ],
    }
    event = litellm_to_event(
        payload(call_type="aresponses", messages=items, model_parameters={}, response=response),
        0,
    )
    assert messages(event) == [
        {"role": "user", "content": "Paris and Rome?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "w", "arguments": '{"city":"Paris"}'},
                },
                {
                    "id": "c2",
                    "type": "function",
                    "function": {"name": "w", "arguments": '{"city":"Rome"}'},
                },
            ],
        },
        {"role": "tool", "content": "14C", "tool_call_id": "c1"},
        {"role": "tool", "content": "20C", "tool_call_id": "c2"},
    ]
    assert (event.answer, event.answer_finish_reason()) == ("Paris 14C, Rome", "length")


def test_responses_prompt_string_with_instructions() -> None:
    response = {
        "object": "response",
        "status": "completed",
        "output": [{"type": "function_call", "call_id": "c9", "name": "lookup", "arguments": "{}"}],
    }
    event = litellm_to_event(
        payload(
            call_type="responses",
            messages="Look it up",
            model_parameters={
                "instructions": "You are terse.",
                "text": {"format": {"type": "json_object"}},
            },
            response=response,
        ),
        0,
    )
    assert messages(event) == [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Look it up"},
    ]
    assert event.request.params == {"response_format": {"type": "json_object"}}
    assert event.answer_tool_calls() == [
        {"id": "c9", "type": "function", "function": {"name": "lookup", "arguments": "{}"}}
    ]
    assert event.answer_finish_reason() == "tool_calls"


def test_tool_schemas_keep_credential_named_properties() -> None:
    # A tool's "password" or "api_key" argument is part of its schema, not a secret: the
    # flagship must get the tool whole. Other params still lose credential-named keys.
    schema = {
        "type": "object",
        "properties": {"user": {"type": "string"}, "password": {"type": "string"}},
        "required": ["user", "password"],
    }
    tools = [{"type": "function", "function": {"name": "login", "parameters": schema}}]
    params = {"tools": tools, "extra_body": {"api_key": "sk-x", "keep": 1}}
    event = litellm_to_event(payload(model_parameters=params), 0)
    assert event.request.params == {"tools": tools, "extra_body": {"keep": 1}}
