"""Tool-call turns are judged as tool calls end to end: an agentic event ingested through the
API, re-run on a recording flagship (a real local HTTP server) that answers with a call, then
scored by the judge stage, which hands the pair to the tool-call judge."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from shadowgap.config import get_settings
from shadowgap.db import models
from shadowgap.db.engine import session_scope
from shadowgap.judging.answer_match import AnswerMatchJudge
from shadowgap.judging.score import score_event
from shadowgap.llm.openai_compat import OpenAICompatClient
from shadowgap.shadow.runs import run_shadow
from tests.support.recording_flagship import TOOL_CALL, RecordingFlagship
from tests.support.settings import auth
from tests.support.tools import WEATHER_TOOLS

MESSAGES = [{"role": "user", "content": "What is the weather in Rome, in celsius?"}]
TOOLS = WEATHER_TOOLS


@pytest.fixture
def flagship() -> Iterator[RecordingFlagship]:
    server = RecordingFlagship()
    yield server
    server.close()


def _call(arguments: str) -> dict[str, Any]:
    return {
        "id": "c1",
        "type": "function",
        "function": {"name": "get_weather", "arguments": arguments},
    }


def _judged(client: TestClient, flagship: RecordingFlagship, event_id: str, answer: Any) -> Any:
    event = {
        "event_id": event_id,
        "timestamp": "2026-11-02T12:00:00Z",
        "request": {"messages": MESSAGES, "params": {"tools": TOOLS, "tool_choice": "auto"}},
        "route": {"tier": "cheap", "model": "small-model"},
        "answer": answer,
        "attributes": {"tenant": "agents"},
    }
    assert client.post("/v1/events", json=event, headers=auth()).json()["sampled"] == 1
    llm = OpenAICompatClient(
        base_url=flagship.url("/v1"), api_key=None, model="flagship", max_retries=0
    )
    with session_scope() as session:
        pk = session.scalars(
            select(models.TrafficEvent.id).where(models.TrafficEvent.event_id == event_id)
        ).one()
        assert run_shadow(session, pk, 0, llm, get_settings()).answer_tool_calls == [TOOL_CALL]
        (verdict,) = score_event(session, pk, AnswerMatchJudge(), get_settings())
        session.expunge(verdict)
    return verdict


def test_a_call_missing_a_required_argument_loses(
    embedded: str, configure: Any, client: TestClient, flagship: RecordingFlagship
) -> None:
    configure(sampling_min_rate=1.0, noise_floor_fraction=0.0)
    answer = {"role": "assistant", "content": None, "tool_calls": [_call('{"unit": "celsius"}')]}
    verdict = _judged(client, flagship, "missing-city", answer)
    assert verdict.judge == "tool-calls"
    assert verdict.winner == "flagship"
    assert verdict.raw["difference"] == "missing_argument"


def test_the_same_call_written_differently_is_a_tie(
    embedded: str, configure: Any, client: TestClient, flagship: RecordingFlagship
) -> None:
    configure(sampling_min_rate=1.0, noise_floor_fraction=0.0)
    same = _call('{ "unit":"celsius",  "city": "Rome" }')
    verdict = _judged(client, flagship, "same-call", {"content": None, "tool_calls": [same]})
    assert verdict.judge == "tool-calls"
    assert verdict.winner == "tie"


def test_prose_where_a_call_was_needed_loses(
    embedded: str, configure: Any, client: TestClient, flagship: RecordingFlagship
) -> None:
    configure(sampling_min_rate=1.0, noise_floor_fraction=0.0)
    verdict = _judged(client, flagship, "prose", "It is probably sunny in Rome.")
    assert verdict.judge == "tool-calls"
    assert verdict.winner == "flagship"
    assert verdict.raw["difference"] == "prose_instead_of_call"
