"""End to end on PostgreSQL: agentic events through the native ingest route get their answer
checks stored, the drift stage raises the invalid tool-call detector when a cheap model starts
dropping a required argument, the alert evidence names the tool and the error kind, and the
segment's API view and page show the signal."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from fastapi.testclient import TestClient
from sqlalchemy import select

from shadowgap.alerts.evidence import drift_evidence
from shadowgap.config import get_settings
from shadowgap.db import models
from shadowgap.db.engine import session_scope
from shadowgap.drift import update_segment
from tests.support.settings import auth

BOOK = {
    "type": "function",
    "function": {
        "name": "book_flight",
        "description": "Book a flight.",
        "parameters": {
            "type": "object",
            "properties": {
                "origin": {"type": "string"},
                "destination": {"type": "string"},
                "date": {"type": "string"},
                "seats": {"type": "integer", "default": 1},
            },
            "required": ["origin", "destination", "date"],
        },
    },
}
CHANGE_AT = 700
TOTAL = 1100


def _event(
    i: int, tier: str, arguments: dict[str, Any], finish: str, rng: random.Random
) -> dict[str, Any]:
    return {
        "event_id": f"trip-{i}",
        "timestamp": (datetime(2026, 11, 2, tzinfo=UTC) + timedelta(minutes=i)).isoformat(),
        "request": {
            "messages": [{"role": "user", "content": f"Book me a seat to Oslo, trip {i}"}],
            "params": {"tools": [BOOK], "tool_choice": "auto"},
        },
        "route": {"tier": tier, "model": "small" if tier == "cheap" else "big"},
        "answer": {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": f"call_{i}",
                    "type": "function",
                    "function": {"name": "book_flight", "arguments": json.dumps(arguments)},
                }
            ],
        },
        "finish_reason": finish,
        "latency_ms": round(rng.lognormvariate(6.0, 0.3), 1),
        "cost_usd": round(0.0002 * rng.lognormvariate(0.0, 0.2), 7),
        "attributes": {"tenant": "travel"},
    }


def _traffic(rng: random.Random) -> list[dict[str, Any]]:
    events = []
    for i in range(TOTAL):
        arguments = {"origin": "BER", "destination": "OSL", "date": "2026-12-24"}
        # After the swap, a third of the cheap calls drop the required date.
        if i >= CHANGE_AT and rng.random() < 0.35:
            del arguments["date"]
        elif rng.random() < 0.01:
            arguments["seats"] = "two"  # the rare wrong type of the old model
        tier = "cheap" if rng.random() < 0.9 else "flagship"
        finish = "length" if rng.random() < 0.01 else "tool_calls"
        events.append(_event(i, tier, arguments, finish, rng))
    return events


def test_dropped_required_arguments_are_caught_and_named(
    production: str, configure, client: TestClient
) -> None:
    configure(sampling_budget_fraction=0.0)
    events = _traffic(random.Random(14))
    for start in range(0, len(events), 100):
        response = client.post("/v1/events", json=events[start : start + 100], headers=auth())
        assert response.status_code == 200, response.text

    with session_scope() as session:
        stored = {
            event_id: (checks, is_cheap)
            for event_id, checks, is_cheap in session.execute(
                select(
                    models.TrafficEvent.event_id,
                    models.TrafficEvent.answer_checks,
                    models.TrafficEvent.is_cheap,
                )
            )
        }
        segment = session.scalars(select(models.Segment)).one()
    # Checked at ingest: cheap answers only, the break named.
    assert all((checks is None) == (not cheap) for checks, cheap in stored.values())
    dropped = [
        checks["tool_args"]
        for (checks, _), sent in zip((stored[e["event_id"]] for e in events), events, strict=True)
        if checks
        and "date" not in json.loads(sent["answer"]["tool_calls"][0]["function"]["arguments"])
        and not checks["truncated"]
    ]
    assert dropped and all(
        d
        == {
            "invalid": True,
            "calls": 1,
            "tool": "book_flight",
            "kind": "missing_argument",
            "path": "date",
        }
        for d in dropped
    )

    settings = get_settings()
    with session_scope() as session:
        while any(b.more for b in update_segment(session, segment.id, settings)):
            pass
    with session_scope() as session:
        drifts = list(session.scalars(select(models.DriftEvent)))
        fired = [d for d in drifts if d.signal == "tool_call_invalid_rate"]
        assert fired, [(d.signal, d.sample_index) for d in drifts]
        assert {d.signal for d in drifts} == {"tool_call_invalid_rate"}
        drift = fired[0]
        at = session.get(models.TrafficEvent, drift.at_event_pk)
        assert at is not None and int(at.event_id.split("-")[1]) >= CHANGE_AT
        evidence = drift_evidence(session, drift, segment, settings)

    defects = evidence.answer_defects
    assert defects is not None and defects["defective"] > 0
    top = defects["by_kind"][0]
    assert (top["tool"], top["kind"], top["path"]) == ("book_flight", "missing_argument", "date")
    assert evidence.signal_kind == "rate"

    key = quote(segment.key, safe="")
    view = client.get(f"/v1/segments/{key}", headers=auth("read")).json()
    signals = {s["signal"]: s for s in view["signals"]}
    assert signals["tool_call_invalid_rate"]["n_updates"] > 900
    assert "schema_invalid_rate" not in signals  # no request asked for JSON
    page = client.get(f"/segments/{key}", params={"days": 3}, headers=auth("read"))
    assert page.status_code == 200
    assert 'id="chart-tool_call_invalid_rate"' in page.text
