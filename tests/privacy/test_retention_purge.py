"""Retention and purge on PostgreSQL: text goes from every copy, numbers stay; purged ids are
tombstoned so a redelivery is a duplicate."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from typer.testing import CliRunner

from shadowgap.cli.main import app as cli
from shadowgap.config import get_settings
from shadowgap.db import models
from shadowgap.db.engine import session_scope
from shadowgap.privacy import copies
from shadowgap.privacy.retention import run_daily
from tests.support.factories import native_event
from tests.support.settings import auth

NOW = datetime.now(UTC)
OLD = NOW - timedelta(days=100)


def _event(event_id: str, *, at: datetime, tenant: str = "acme", user: str = "u-1") -> dict:
    return native_event(
        event_id,
        at=at,
        attributes={"tenant": tenant, "user": user, "tags": []},
        answer=f"cheap answer for {event_id} #### 18",
    )


def _derive(event_id: str, alert_opened: datetime) -> int:
    """A shadow run, a verdict, an alert citing the event, a delivered notification."""
    with session_scope() as session:
        event = session.execute(
            select(models.TrafficEvent).where(models.TrafficEvent.event_id == event_id)
        ).scalar_one()
        session.add(
            models.ShadowRun(
                event_pk=event.id,
                replicate=0,
                status="ok",
                client="recorded",
                model="big",
                answer=f"flagship answer for {event_id}",
                created_at=event.occurred_at,
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
                raw={"said": f"judge on {event_id}"},
                rationale=f"rationale for {event_id}",
                created_at=event.occurred_at,
            )
        )
        example = {
            "event_pk": event.id,
            "event_id": event_id,
            "prompt": f"prompt of {event_id}",
            "cheap_answer": "cheap",
            "flagship_answer": "flagship",
            "rationale": "why",
            "winner": "flagship",
        }
        alert = models.Alert(
            segment_id=event.segment_id,
            signal=f"quality_gap-{event_id}",
            status="resolved",
            severity="error",
            evidence={"examples": [example], "before": {"value": 0.1}},
            opened_at=alert_opened,
        )
        session.add(alert)
        session.flush()
        delivery = models.Delivery(
            alert_id=alert.id,
            channel="slack",
            action="trigger",
            status="delivered",
            payload={"text": f"prompt of {event_id}"},
            created_at=alert_opened,
        )
        session.add(delivery)
        session.flush()
        # Registered as the alert lifecycle registers what it writes.
        copies.register_alert(session, alert)
        copies.register_delivery(session, delivery, alert)
        return event.id


def _dump() -> str:
    with session_scope() as session:
        return "\n".join(
            json.dumps([list(r) for r in session.execute(select(t)).all()], default=str)
            for t in models.Base.metadata.sorted_tables
        )


def test_retention_drops_old_text_and_keeps_numbers(
    production: str, configure: Callable[..., None], client: TestClient, tmp_path: Path
) -> None:
    outbox = tmp_path / "outbox"
    outbox.mkdir()
    configure(retention_days=30, alert_outbox_dir=outbox)
    events = [_event("old-1", at=OLD), _event("new-1", at=NOW - timedelta(days=1))]
    assert client.post("/v1/events", json=events, headers=auth()).json()["new"] == 2
    old_pk = _derive("old-1", OLD)
    new_pk = _derive("new-1", NOW - timedelta(days=1))
    stale, fresh = outbox / "old.json", outbox / "new.json"
    stale.write_text('{"prompt": "prompt of old-1"}')
    fresh.write_text('{"prompt": "prompt of new-1"}')
    os.utime(stale, (time.time() - 100 * 86400,) * 2)
    with session_scope() as session:
        counters = session.execute(select(models.Segment.event_count)).scalars().all()

    with session_scope() as session:
        result = run_daily(session, NOW, get_settings())
    assert (result.events, result.shadow_runs, result.verdicts) == (1, 1, 1)
    assert (result.alerts, result.deliveries, result.outbox_files) == (1, 1, 1)

    dump = _dump()
    assert "old-1 #### 18" not in dump and "flagship answer for old-1" not in dump
    assert "rationale for old-1" not in dump and "judge on old-1" not in dump
    assert "prompt of old-1" not in dump
    assert not stale.exists() and fresh.exists()
    for text in ("new-1 #### 18", "flagship answer for new-1", "rationale for new-1"):
        assert text in dump, text
    with session_scope() as session:
        old = session.get(models.TrafficEvent, old_pk)
        assert old.answer is None and old.request == {"messages": [], "params": {"temperature": 0}}
        assert old.latency_ms == 420.0 and old.status == "ok" and old.is_cheap  # numbers stay
        verdict = session.execute(
            select(models.Verdict).where(models.Verdict.event_pk == old_pk)
        ).scalar_one()
        assert verdict.winner == "flagship" and verdict.gap_score == 1.0
        assert session.get(models.TrafficEvent, new_pk).request["messages"]
        alert = session.execute(
            select(models.Alert).where(models.Alert.signal == "quality_gap-old-1")
        ).scalar_one()
        (example,) = alert.evidence["examples"]
        assert example["event_pk"] == old_pk and example["prompt"] is None
        assert example["winner"] == "flagship" and alert.evidence["before"] == {"value": 0.1}
        assert session.execute(select(models.Segment.event_count)).scalars().all() == counters

    with session_scope() as session:  # idempotent
        again = run_daily(session, NOW, get_settings())
    assert (again.events, again.shadow_runs, again.verdicts, again.alerts) == (0, 0, 0, 0)


def test_purge_by_user_and_segment_with_tombstones(production: str, client: TestClient) -> None:
    events = [
        _event("u1-a", at=NOW, tenant="acme", user="u-1"),
        _event("u1-b", at=NOW, tenant="globex", user="u-1"),
        _event("u2-a", at=NOW, tenant="acme", user="u-2"),
        _event("g-1", at=NOW, tenant="globex", user="u-3"),
    ]
    assert client.post("/v1/events", json=events, headers=auth()).json()["new"] == 4
    _derive("u1-a", NOW)
    _derive("u2-a", NOW)
    with session_scope() as session:  # the users' cadence classes, as the hourly run stores
        session.add_all(
            models.UserCadence(
                user_key=u, cadence="occasional", requests=1, active_hours=1, window_end=NOW
            )
            for u in ("u-1", "u-2")
        )

    runner = CliRunner()
    out = runner.invoke(cli, ["purge", "--user", "u-1", "--yes"])
    assert out.exit_code == 0, out.output
    assert "purged 2 events (1 shadow runs, 1 verdicts; examples removed from 1 alerts" in (
        out.output
    )
    dump = _dump()
    assert "u1-a #### 18" not in dump and "flagship answer for u1-a" not in dump
    assert "prompt of u1-a" not in dump and "u2-a #### 18" in dump
    with session_scope() as session:
        counts = dict(session.execute(select(models.Segment.key, models.Segment.event_count)).all())
        assert counts == {"tenant=acme": 1, "tenant=globex": 1}
        tombstones = set(session.execute(select(models.PurgedEvent.event_id)).scalars())
        assert tombstones == {"u1-a", "u1-b"}
        assert set(session.scalars(select(models.UserCadence.user_key))) == {"u-2"}

    # A redelivery of a purged event is a duplicate, not stored again.
    again = client.post("/v1/events", json=events[:2], headers=auth()).json()
    assert (again["new"], again["duplicates"]) == (0, 2)
    with session_scope() as session:
        stored = session.execute(select(func.count()).select_from(models.TrafficEvent))
        assert stored.scalar_one() == 2

    out = runner.invoke(cli, ["purge", "--segment", "tenant=globex", "--yes"])
    assert out.exit_code == 0 and "purged 1 events" in out.output
    missing = runner.invoke(cli, ["purge", "--segment", "tenant=nobody", "--yes"])
    assert missing.exit_code == 1 and "no segment" in missing.output
    with session_scope() as session:
        left = session.execute(select(models.TrafficEvent.event_id)).scalars().all()
    assert left == ["u2-a"]
