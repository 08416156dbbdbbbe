"""The native schema takes OpenAI's agentic chat shapes: tool calls, tool turns, names,
content parts, refusals, request params; the answer as a string or an assistant message; and
old rows (stored before migration 0011) still read as text answers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from shadowgap.db import models
from shadowgap.db.engine import make_engine, session_scope
from shadowgap.db.migrate import upgrade
from shadowgap.privacy.events import redact_event
from shadowgap.privacy.redaction import redactor
from shadowgap.schemas import AssistantMessage, TrafficEvent
from tests.conftest import auth

CALL = {
    "id": "call_1",
    "type": "function",
    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
}
HISTORY: list[dict[str, Any]] = [
    {"role": "developer", "content": "Use the tools."},
    {"role": "user", "content": "Weather in Paris?", "name": "ana"},
    # As OpenAI's SDK returns it and apps append it back: null keys and annotations included.
    {
        "role": "assistant",
        "content": None,
        "refusal": None,
        "annotations": [],
        "audio": None,
        "function_call": None,
        "tool_calls": [CALL],
    },
    {"role": "tool", "tool_call_id": "call_1", "content": "14C"},
    {"role": "assistant", "content": None, "function_call": {"name": "f", "arguments": "{}"}},
    {"role": "function", "name": "f", "content": "done"},
    {"role": "assistant", "content": None, "refusal": "I can't help with that."},
    {
        "role": "user",
        "content": [
            {"type": "text", "text": "And now?"},
            {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
        ],
    },
]


def event(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "event_id": "agentic-1",
        "timestamp": "2026-11-02T12:00:00Z",
        "request": {"messages": HISTORY, "params": {"tools": [], "tool_choice": "auto"}},
        "route": {"tier": "cheap", "model": "gpt-4o-mini"},
        "answer": "It is 14C.",
    }
    base.update(overrides)
    return base


def test_openai_chat_shapes_are_accepted_and_kept() -> None:
    parsed = TrafficEvent.model_validate(event())
    stored = parsed.request.model_dump(mode="json")["messages"]
    assert stored[1] == {"role": "user", "content": "Weather in Paris?", "name": "ana"}
    # Null keys and the keys shadowgap does not keep (annotations, audio) are left out.
    assert stored[2] == {"role": "assistant", "content": None, "tool_calls": [CALL]}
    assert stored[3] == {"role": "tool", "content": "14C", "tool_call_id": "call_1"}
    assert stored[4]["function_call"] == {"name": "f", "arguments": "{}"}
    assert stored[5] == {"role": "function", "content": "done", "name": "f"}
    assert stored[6]["refusal"] == "I can't help with that."
    assert stored[7]["content"][1]["type"] == "image_url"
    # What is stored validates again as the same event.
    assert TrafficEvent.model_validate(parsed.model_dump(mode="json")) == parsed


def test_request_may_be_the_openai_request_body() -> None:
    body = {
        "model": "gpt-4o-mini",
        "messages": HISTORY[:2],
        "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {}}}],
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
        "parallel_tool_calls": False,
        "response_format": {"type": "json_object"},
        "stop": "END",
        "seed": 7,
        "top_p": 0.5,
        "max_completion_tokens": 100,
        "reasoning_effort": "low",
        "params": {"seed": 8},
    }
    params = TrafficEvent.model_validate(event(request=body)).request.params
    assert params["seed"] == 8  # given twice: params wins
    for key in (
        "model",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "response_format",
        "stop",
        "top_p",
        "max_completion_tokens",
        "reasoning_effort",
    ):
        assert params[key] == body[key], key
    missing = {"tools": []}
    with pytest.raises(ValidationError) as info:
        TrafficEvent.model_validate(event(request=missing))
    assert info.value.errors()[0]["loc"] == ("request", "messages")


def test_answer_as_text_or_assistant_message() -> None:
    prose = TrafficEvent.model_validate(event(finish_reason="length"))
    assert (prose.answer_text(), prose.answer_tool_calls(), prose.answer_finish_reason()) == (
        "It is 14C.",
        None,
        "length",
    )
    message = {
        "role": "assistant",
        "content": None,
        "tool_calls": [CALL],
        "refusal": None,
        "annotations": [],
    }
    call = TrafficEvent.model_validate(event(answer=message, finish_reason="tool_calls"))
    assert isinstance(call.answer, AssistantMessage)
    assert (call.answer_text(), call.answer_tool_calls(), call.answer_finish_reason()) == (
        "",
        [CALL],
        "tool_calls",
    )
    both = TrafficEvent.model_validate(
        event(answer={"content": "Checking.", "tool_calls": [CALL], "finish_reason": "tool_calls"})
    )
    assert (both.answer_text(), both.answer_finish_reason()) == ("Checking.", "tool_calls")
    legacy = TrafficEvent.model_validate(
        event(answer={"content": None, "function_call": {"name": "f", "arguments": {"a": 1}}})
    )
    assert legacy.answer_tool_calls() == [
        {"type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}}
    ]
    refusal = TrafficEvent.model_validate(event(answer={"content": None, "refusal": "No."}))
    assert (refusal.answer_text(), refusal.refused) == ("No.", True)
    parts = TrafficEvent.model_validate(
        event(answer={"content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]})
    )
    assert parts.answer_text() == "a\nb"
    empty = TrafficEvent.model_validate(event(answer={"role": "assistant", "content": None}))
    assert empty.answer_text() is None


def test_openai_usage_object_is_accepted_but_own_shapes_still_catch_typos() -> None:
    usage = {
        "prompt_tokens": 10,
        "completion_tokens": 2,
        "total_tokens": 12,
        "prompt_tokens_details": {"cached_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0},
    }
    assert TrafficEvent.model_validate(event(usage=usage)).usage.prompt_tokens == 10
    with pytest.raises(ValidationError):
        TrafficEvent.model_validate(event(route={"tier": "cheap", "model": "m", "tierr": "x"}))
    with pytest.raises(ValidationError):
        TrafficEvent.model_validate(event(answr="typo"))


def test_tool_arguments_results_and_refusals_are_redacted_at_rest() -> None:
    email = "ana.lima@example.com"
    history = [
        {"role": "user", "content": "Mail my friend"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_9",
                    "type": "function",
                    "function": {"name": "lookup", "arguments": json.dumps({"who": email})},
                }
            ],
            "function_call": {"name": "old", "arguments": f'{{"to": "{email}"}}'},
        },
        {"role": "tool", "tool_call_id": "call_9", "content": f"found {email}"},
    ]
    answer = {
        "content": None,
        "refusal": f"I won't mail {email}",
        "tool_calls": [
            {
                "id": "call_10",
                "type": "function",
                "function": {"name": "send_email", "arguments": json.dumps({"to": email})},
            }
        ],
    }
    raw = TrafficEvent.model_validate(
        event(request={"messages": history}, answer=answer, finish_reason="tool_calls")
    )
    clean = redact_event(raw, redactor(("email",)))
    dumped = json.dumps(clean.model_dump(mode="json"))
    assert email not in dumped and dumped.count("[EMAIL]") == 5
    # Names and ids are identifiers: kept. The arguments stay JSON.
    calls = clean.answer_tool_calls()
    assert calls is not None and calls[0]["id"] == "call_10"
    assert json.loads(calls[0]["function"]["arguments"]) == {"to": "[EMAIL]"}
    assert raw.answer_tool_calls() != calls  # the original is untouched


def test_a_batch_with_an_agentic_turn_is_stored(embedded: str, client: TestClient) -> None:
    prose = event(event_id="prose-1", request={"messages": [{"role": "user", "content": "hi"}]})
    agentic = event(
        event_id="agentic-2",
        answer={"role": "assistant", "content": None, "tool_calls": [CALL]},
        finish_reason="tool_calls",
    )
    response = client.post("/v1/events", json=[prose, agentic], headers=auth())
    assert response.status_code == 200, response.text
    assert response.json()["new"] == 2
    with session_scope() as session:
        rows = {row.event_id: row for row in session.scalars(select(models.TrafficEvent)).all()}
        assert (rows["prose-1"].answer, rows["prose-1"].answer_tool_calls) == ("It is 14C.", None)
        assert rows["agentic-2"].answer == ""
        assert rows["agentic-2"].answer_tool_calls == [CALL]
        assert rows["agentic-2"].finish_reason == "tool_calls"
        assert rows["agentic-2"].request["messages"][2]["tool_calls"] == [CALL]


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/old_rows.db"
    return str(request.getfixturevalue("postgres_url"))


def test_rows_stored_before_0011_read_as_text_answers(database_url: str) -> None:
    upgrade(database_url, "0010")
    engine = make_engine(database_url)
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO segments (id, key, dimensions, event_count, cheap_count, "
                    "sampled_count, first_seen_at) VALUES (1, 'tenant=a', '{}', 1, 1, 0, "
                    "'2026-12-01 08:00:00+00:00')"
                )
            )
            conn.execute(
                text(
                    "INSERT INTO traffic_events (id, event_id, segment_id, source_format, "
                    "occurred_at, received_at, route_tier, route_model, is_cheap, request, "
                    "prompt_hash, answer, prompt_tokens, completion_tokens, status, refused, "
                    "escalated, attributes) VALUES (1, 'old-1', 1, 'native', "
                    "'2026-11-03 09:30:00+00:00', '2026-11-03 09:30:00+00:00', 'cheap', 'm', "
                    "true, :request, 'h', 'Canberra.', 0, 0, 'ok', false, false, '{}')"
                ),
                {"request": json.dumps({"messages": [{"role": "user", "content": "Capital?"}]})},
            )
            conn.execute(
                text(
                    "INSERT INTO shadow_runs (id, event_pk, replicate, status, client, model, "
                    "answer, prompt_tokens, completion_tokens, cost_usd, attempts, created_at) "
                    "VALUES (1, 1, 0, 'ok', 'openai', 'f', '', 0, 0, 0, 1, "
                    "'2026-11-03 09:31:00+00:00')"
                )
            )
        upgrade(database_url)
        with Session(engine) as session:
            old = session.get(models.TrafficEvent, 1)
            run = session.get(models.ShadowRun, 1)
            assert old is not None and run is not None
            assert (old.answer, old.answer_tool_calls, old.finish_reason) == (
                "Canberra.",
                None,
                None,
            )
            assert (run.answer, run.answer_tool_calls, run.finish_reason) == ("", None, None)
    finally:
        engine.dispose()


def test_tool_call_answers_are_shown_as_calls() -> None:
    from datetime import UTC, datetime

    from shadowgap.alerts.evidence import _example
    from shadowgap.schemas import answer_display

    assert answer_display("prose", None) == "prose"
    assert answer_display("", [CALL]) == 'get_weather({"city": "Paris"})'
    assert answer_display("Checking.", [CALL, CALL]).count("\n") == 2  # type: ignore[union-attr]
    traffic = models.TrafficEvent(
        id=1,
        event_id="e",
        occurred_at=datetime(2026, 11, 2, tzinfo=UTC),
        route_tier="cheap",
        route_model="m",
        request={"messages": [{"role": "user", "content": "Weather?"}]},
        answer="",
        answer_tool_calls=[CALL],
    )
    run = models.ShadowRun(model="f", answer="It is 14C.", answer_tool_calls=None)
    example = _example(traffic, None, run)
    assert example.cheap_answer == 'get_weather({"city": "Paris"})'
    assert example.flagship_answer == "It is 14C."


def test_retention_drops_tool_call_arguments_with_the_answer(
    any_db: str, client: TestClient
) -> None:
    from datetime import UTC, datetime

    from shadowgap.privacy.retention import apply_retention

    agentic = event(
        event_id="agentic-old",
        answer={"role": "assistant", "content": None, "tool_calls": [CALL]},
        finish_reason="tool_calls",
    )
    assert client.post("/v1/events", json=agentic, headers=auth()).status_code == 200
    with session_scope() as session:
        stored = session.scalars(select(models.TrafficEvent)).one()
        session.add(
            models.ShadowRun(
                event_pk=stored.id,
                replicate=0,
                status="ok",
                client="openai",
                model="f",
                answer="",
                answer_tool_calls=[CALL],
            )
        )
    with session_scope() as session:
        apply_retention(session, datetime(2026, 12, 31, tzinfo=UTC), 30)
    with session_scope() as session:
        stored = session.scalars(select(models.TrafficEvent)).one()
        run = session.scalars(select(models.ShadowRun)).one()
        assert (stored.answer, stored.answer_tool_calls, stored.request["messages"]) == (
            None,
            None,
            [],
        )
        assert (run.answer, run.answer_tool_calls) == (None, None)
