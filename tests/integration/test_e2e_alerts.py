"""End to end on PostgreSQL + Redis with real workers: a routing regression injected into one
segment of replayed traffic produces exactly one Slack message and one PagerDuty trigger, and
its recovery resolves both. Slack and PagerDuty are local receivers; their payloads are checked
against the documented formats."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from shadowgap.db import models
from shadowgap.db.engine import session_scope
from tests.support.alert_formats import pagerduty_problems, slack_problems
from tests.support.alert_receiver import Receiver
from tests.support.factories import native_event
from tests.support.processes import wait_for
from tests.support.settings import auth

SLACK_PATH = "/services/T000/B000/slack-secret-path"
PD_PATH = "/v2/enqueue"


def _events(
    tenant: str, n: int, cheap_share: float, start: int, rng: random.Random
) -> list[dict[str, Any]]:
    begin = datetime(2026, 11, 2, tzinfo=UTC)
    events = []
    for i in range(start, start + n):
        tier = "cheap" if rng.random() < cheap_share else "flagship"
        # Latency and cost independent of the route: only the routing share changes here.
        events.append(
            native_event(
                f"{tenant}-{i}",
                tenant=tenant,
                tier=tier,
                row=i,
                at=begin + timedelta(seconds=i),
                latency_ms=round(rng.gauss(800, 80), 1),
                cost_usd=0.001,
            )
        )
    return events


def _send(client: TestClient, events: list[dict[str, Any]]) -> None:
    for start in range(0, len(events), 200):
        response = client.post("/v1/events", json=events[start : start + 200], headers=auth())
        assert response.status_code == 200, response.text


def _interleave(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [event for pair in zip(a, b, strict=True) for event in pair]


def _alerts() -> list[models.Alert]:
    with session_scope() as session:
        return list(session.execute(select(models.Alert).order_by(models.Alert.id)).scalars())


def test_one_regression_pages_once_and_resolves(
    production: str, configure, client: TestClient, start_worker
) -> None:
    receiver = Receiver()
    try:
        configure(
            sampling_budget_fraction=0.0,
            resolve_after_samples=100,
            slack_webhook_url=receiver.url(SLACK_PATH),
            pagerduty_routing_key="0123456789abcdef0123456789abcdef",
            pagerduty_events_url=receiver.url(PD_PATH),
        )
        start_worker()
        rng = random.Random(11)
        # Baseline: both tenants route 30% / 50% cheap, long enough to warm the detectors up.
        _send(
            client,
            _interleave(_events("acme", 700, 0.3, 0, rng), _events("globex", 700, 0.5, 0, rng)),
        )
        # The regression: acme's routing share jumps to 90%.
        _send(
            client,
            _interleave(_events("acme", 300, 0.9, 700, rng), _events("globex", 300, 0.5, 700, rng)),
        )
        wait_for(lambda: any(r.path == PD_PATH for r in receiver.requests), timeout=120)

        # Recovery: back to baseline for well over resolve_after_samples.
        _send(
            client,
            _interleave(
                _events("acme", 400, 0.3, 1000, rng), _events("globex", 400, 0.5, 1000, rng)
            ),
        )
        wait_for(
            lambda: (
                _alerts()
                and all(a.status == "resolved" for a in _alerts())
                and sum(r.path == PD_PATH for r in receiver.requests) >= 2
            ),
            timeout=180,
        )

        alerts = _alerts()
        assert len(alerts) == 1
        with session_scope() as session:
            segment = session.get(models.Segment, alerts[0].segment_id)
            assert segment is not None and segment.key == "tenant=acme"
        assert alerts[0].signal == "routing_share" and alerts[0].resolved_by != "user"

        slack = [r.json() for r in receiver.requests if r.path == SLACK_PATH]
        pagerduty = [r.json() for r in receiver.requests if r.path == PD_PATH]
        assert [p["event_action"] for p in pagerduty] == ["trigger", "resolve"]
        assert pagerduty[0]["dedup_key"] == pagerduty[1]["dedup_key"]
        assert len(slack) == 2  # the trigger and the resolve message
        for message in slack:
            assert slack_problems(message) == []
        for event in pagerduty:
            assert pagerduty_problems(event) == []
        assert "tenant=acme" in slack[0]["text"]
    finally:
        receiver.close()
