"""Request text that can only come from one event, alerts opened on it by the alert
lifecycle, notifications sent as the alerts.deliver task sends them, and every place the text
could still be read afterwards (tests of purge and retention)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from shadowgap.alerts import delivery, lifecycle
from shadowgap.config import get_settings
from shadowgap.db import models
from shadowgap.db.engine import session_scope
from tests.support.alert_rows import add_drift
from tests.support.factories import native_event
from tests.support.settings import auth


def secret(who: str, n: int) -> str:
    """Text that can only come from one event (plain words: redaction leaves them)."""
    return f"the purple walrus of {who} asks question number {n} about the harbour"


def traffic(event_id: str, *, who: str, n: int, tenant: str, at: datetime) -> dict[str, Any]:
    return native_event(
        event_id,
        at=at,
        request={
            "messages": [{"role": "user", "content": secret(who, n)}],
            "params": {"temperature": 0},
        },
        answer=f"answer for the walrus of {who} number {n}",
        attributes={"tenant": tenant, "user": who, "tags": []},
    )


def judge(session: Session, event_id: str) -> None:
    """The event's flagship run and verdict, as the shadow and judge stages store them."""
    event = session.scalars(
        select(models.TrafficEvent).where(models.TrafficEvent.event_id == event_id)
    ).one()
    session.add(
        models.ShadowRun(
            event_pk=event.id,
            replicate=0,
            status="ok",
            client="recorded",
            model="big",
            answer=f"flagship text on {event_id}",
        )
    )
    session.add(
        models.Verdict(
            event_pk=event.id,
            segment_id=event.segment_id,
            kind="gap",
            judge="answer-match",
            winner="flagship",
            gap_score=1.0,
            inclusion_probability=0.5,
            raw={"said": f"judge output on {event_id}"},
            rationale=f"rationale on {event_id}",
        )
    )
    session.flush()


def segment_of(session: Session, key: str) -> models.Segment:
    return session.scalars(select(models.Segment).where(models.Segment.key == key)).one()


def open_drift(session: Session, key: str, now: datetime) -> tuple[int, list[int]]:
    """A quality drift on the segment whose after-window is all its events: the lifecycle
    opens the alert with them as examples and creates its deliveries."""
    segment = segment_of(session, key)
    last = session.scalar(
        select(models.TrafficEvent.id)
        .where(models.TrafficEvent.segment_id == segment.id)
        .order_by(models.TrafficEvent.id.desc())
        .limit(1)
    )
    drift = add_drift(
        session,
        segment,
        before=0.05,
        after=0.6,
        before_n=400,
        after_n=3,
        at_event_pk=last,
        sample_index=100,
        when=now,
        statistic=12.0,
    )
    deliveries = lifecycle.open_or_update(session, drift.id, get_settings(), now)
    alert = session.scalars(
        select(models.Alert).where(
            models.Alert.segment_id == segment.id, models.Alert.signal == "quality_gap"
        )
    )
    return alert.one().id, deliveries


def open_slice(
    session: Session, filed_under: str, event_ids: list[str], now: datetime
) -> tuple[int, list[int]]:
    """A confirmed slice whose examples come from other segments than the one it is filed
    under (its largest), opened by the lifecycle."""
    record = models.Slice(
        key="route_model=m and template=abc",
        conditions=[["route_model", "m"], ["template", "abc"]],
        status="confirmed",
        window_start=now - timedelta(days=7),
        window_end=now,
        score=3.0,
        traffic_share=0.2,
        n=40,
        details={"example_event_ids": event_ids, "q_value": 0.01},
        confirmation={"z": 3.1, "threshold_z": 2.0, "n": 40},
        confirmed_at=now,
    )
    session.add(record)
    session.flush()
    segment = segment_of(session, filed_under)
    deliveries = lifecycle.open_slice_alert(session, record, segment.id, get_settings(), now)
    assert record.alert_id is not None
    return record.alert_id, deliveries


def deliver(delivery_id: int) -> str:
    """One send as the alerts.deliver task makes it: claim, call the channel with no
    transaction open, record."""
    settings = get_settings()
    with session_scope() as session:
        claim = delivery.claim_delivery(session, delivery_id, settings, datetime.now(UTC))
    if isinstance(claim, str):
        return claim
    delivery.send_claimed(claim, settings)
    with session_scope() as session:
        return delivery.record_outcome(session, claim, settings, datetime.now(UTC))


def dump() -> str:
    with session_scope() as session:
        return "\n".join(
            json.dumps([list(r) for r in session.execute(select(t)).all()], default=str)
            for t in models.Base.metadata.sorted_tables
        )


def files(outbox: Path) -> str:
    return "\n".join(p.read_text() for p in sorted(outbox.rglob("*.json")))


def api(client: TestClient, alert_ids: list[int]) -> str:
    pages = [client.get("/v1/alerts", params={"limit": 50}, headers=auth("read")).text]
    pages += [client.get(f"/v1/alerts/{i}", headers=auth("read")).text for i in alert_ids]
    return "\n".join(pages)


def everywhere(client: TestClient, outbox: Path, alert_ids: list[int]) -> dict[str, str]:
    return {"database": dump(), "outbox": files(outbox), "api": api(client, alert_ids)}
