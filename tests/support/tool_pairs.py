"""A segment of an agent's judged pairs for the side-by-side views (evidence, Slack, PagerDuty,
the segment and alerts pages, GET /v1/alerts/{id}).

Each pair is judged by the real judges (tool-call or structured-output, no ground truth) and
stored as the judge stage stores it: the cheap answer on the event, the flagship's on shadow
run 0, the verdict with its ``raw``. A drift event over them and an open alert whose evidence is
built by :func:`shadowgap.alerts.evidence.build_drift_evidence` complete it.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from shadowgap.alerts.evidence import build_drift_evidence
from shadowgap.config import Settings
from shadowgap.db import models
from shadowgap.judging.structured import StructuredOutputJudge
from shadowgap.judging.tool_calls import ToolCallJudge
from tests.support.alert_rows import add_drift
from tests.support.tools import TRAVEL_TOOLS

AGENT_SEGMENT = "tenant=agents"
# A value a hostile sender could put in a tool argument: markup and a right-to-left override.
HOSTILE_CITY = "<b>Paris</b> \u202eesrever"
FORECAST_FORMAT = {
    "type": "json_schema",
    "json_schema": {
        "name": "forecast",
        "schema": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "temp_c": {"type": "integer"}},
            "required": ["city", "temp_c"],
        },
    },
}


def call(name: str, arguments: dict[str, Any] | str, call_id: str = "call_1") -> dict[str, Any]:
    text = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": text}}


# (event id, question, params, cheap (text, calls), flagship (text, calls)), oldest first: an
# alert's evidence shows the newest three flagship wins (missing-city, hostile, json-field).
PAIRS: list[tuple[str, str, dict[str, Any], tuple[str, Any], tuple[str, Any]]] = [
    (
        "agent-wrong-function",
        "Mail me the weather in Oslo.",
        {"tools": TRAVEL_TOOLS, "tool_choice": "auto"},
        ("Sending it now.", [call("send_email", {"to": "me", "body": "Oslo?"})]),
        ("", [call("get_weather", {"city": "Oslo"})]),
    ),
    (
        "agent-json-field",
        "Forecast for Rome as JSON.",
        {"response_format": FORECAST_FORMAT},
        ('{"city": "Rome", "temp_c": 25}', None),
        ('{"temp_c": 19, "city": "Rome"}', None),
    ),
    (
        "agent-hostile-argument",
        "Weather in Rome?",
        {"tools": TRAVEL_TOOLS},
        ("", [call("get_weather", {"city": HOSTILE_CITY})]),
        ("", [call("get_weather", {"city": "Rome"})]),
    ),
    (
        "agent-missing-city",
        "Weather in Rome, in celsius?",
        {"tools": TRAVEL_TOOLS, "tool_choice": "auto"},
        ("", [call("get_weather", {"unit": "celsius"})]),
        ("", [call("get_weather", {"city": "Rome", "unit": "celsius"})]),
    ),
]


def _verdict(request: dict[str, Any], cheap: dict[str, Any], flagship: dict[str, Any]) -> Any:
    params = request["params"]
    if "response_format" in params:
        return StructuredOutputJudge().judge_answers(request, cheap["content"], flagship["content"])
    return ToolCallJudge().judge_answers(request, cheap, flagship)


def seed_agent_pairs(session: Session, settings: Settings, now: datetime) -> models.Alert:
    """The agent segment, its judged pairs, a drift event and its open alert."""
    segment = models.Segment(
        key=AGENT_SEGMENT,
        dimensions={"tenant": "agents"},
        event_count=len(PAIRS),
        cheap_count=len(PAIRS),
        first_seen_at=now - timedelta(days=1),
        last_seen_at=now,
        first_occurred_at=now - timedelta(hours=len(PAIRS)),
        last_occurred_at=now - timedelta(hours=1),
    )
    session.add(segment)
    session.flush()
    last_pk = 0
    for n, (event_id, question, params, cheap, flagship) in enumerate(PAIRS):
        request = {"messages": [{"role": "user", "content": question}], "params": params}
        cheap_message = {"content": cheap[0] or None, "tool_calls": cheap[1] or []}
        flagship_message = {"content": flagship[0] or None, "tool_calls": flagship[1] or []}
        verdict = _verdict(request, cheap_message, flagship_message)
        event = models.TrafficEvent(
            event_id=event_id,
            segment_id=segment.id,
            source_format="native",
            occurred_at=now - timedelta(hours=len(PAIRS) - n),
            route_tier="cheap",
            route_model="small-model",
            is_cheap=True,
            request=request,
            prompt_hash=hashlib.sha256(event_id.encode()).hexdigest(),
            answer=cheap[0],
            answer_tool_calls=cheap[1],
            finish_reason="tool_calls" if cheap[1] else "stop",
            latency_ms=150.0,
            status="ok",
            attributes={"tenant": "agents"},
        )
        session.add(event)
        session.flush()
        session.add(
            models.ShadowRun(
                event_pk=event.id,
                replicate=0,
                status="ok",
                client="openai",
                model="flagship-model",
                answer=flagship[0],
                answer_tool_calls=flagship[1],
            )
        )
        session.add(
            models.Verdict(
                event_pk=event.id,
                segment_id=segment.id,
                kind="gap",
                judge=verdict.judge,
                winner=verdict.winner,
                gap_score=verdict.gap_score,
                inclusion_probability=1.0,
                raw=verdict.raw,
                rationale=verdict.rationale,
            )
        )
        session.flush()
        last_pk = event.id
    drift = add_drift(
        session,
        segment,
        before=0.05,
        after=0.75,
        before_n=400,
        after_n=len(PAIRS),
        at_event_pk=last_pk,
        sample_index=len(PAIRS),
        details={"before_std": 0.2, "after_std": 0.4},
        when=now,
    )
    alert = models.Alert(
        segment_id=segment.id,
        signal="quality_gap",
        status="open",
        severity="critical",
        drift_event_id=drift.id,
        evidence=build_drift_evidence(session, drift, segment, settings),
        opened_at=now,
        last_notified_at=now,
    )
    session.add(alert)
    session.flush()
    return alert


def utc_now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)
