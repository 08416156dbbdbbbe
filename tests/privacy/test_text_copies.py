"""Every copy of a request's text (alert evidence, delivery payloads, outbox files) is found by
the events it quotes: after a purge or a retention run the text is gone from every table, every
file in the outbox and every API response, on PostgreSQL (issue 22, items 3 and 4).

The alerts are opened by the alert lifecycle itself (a drift event, a confirmed slice) and sent
by the delivery steps the ``alerts.deliver`` task runs, so the copies are written, and
registered, as in production."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from shadowgap.alerts import delivery, lifecycle
from shadowgap.cli.main import app as cli
from shadowgap.config import get_settings
from shadowgap.db import models
from shadowgap.db.engine import session_scope
from shadowgap.enums import DeliveryStatus
from shadowgap.privacy import copies
from shadowgap.privacy.retention import run_daily
from tests.support.factories import native_event
from tests.support.settings import auth

NOW = datetime.now(UTC)


def _secret(who: str, n: int) -> str:
    """Text that can only come from one event (plain words: redaction leaves them)."""
    return f"the purple walrus of {who} asks question number {n} about the harbour"


def _event(event_id: str, *, who: str, n: int, tenant: str, at: datetime) -> dict[str, Any]:
    return native_event(
        event_id,
        at=at,
        request={
            "messages": [{"role": "user", "content": _secret(who, n)}],
            "params": {"temperature": 0},
        },
        answer=f"answer for the walrus of {who} number {n}",
        attributes={"tenant": tenant, "user": who, "tags": []},
    )


def _judge(session: Session, event_id: str) -> None:
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


def _segment(session: Session, key: str) -> models.Segment:
    return session.scalars(select(models.Segment).where(models.Segment.key == key)).one()


def _drift_alert(session: Session, key: str, now: datetime) -> tuple[int, list[int]]:
    """A quality drift on the segment whose after-window is all its events: the lifecycle
    opens the alert with them as examples and creates its deliveries."""
    segment = _segment(session, key)
    last = session.scalar(
        select(models.TrafficEvent.id)
        .where(models.TrafficEvent.segment_id == segment.id)
        .order_by(models.TrafficEvent.id.desc())
        .limit(1)
    )
    drift = models.DriftEvent(
        segment_id=segment.id,
        signal="quality_gap",
        detector="page_hinkley",
        detected_at=now,
        at_event_pk=last,
        sample_index=100,
        before_mean=0.05,
        before_n=400,
        after_mean=0.6,
        after_n=3,
        statistic=12.0,
        threshold=10.0,
        details={"before_std": 0.2, "after_std": 0.3},
    )
    session.add(drift)
    session.flush()
    deliveries = lifecycle.open_or_update(session, drift.id, get_settings(), now)
    alert = session.scalars(select(models.Alert).where(models.Alert.drift_event_id == drift.id))
    return alert.one().id, deliveries


def _slice_alert(
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
    segment = _segment(session, filed_under)
    deliveries = lifecycle.open_slice_alert(session, record, segment.id, get_settings(), now)
    assert record.alert_id is not None
    return record.alert_id, deliveries


def _deliver(delivery_id: int) -> str:
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


def _dump() -> str:
    with session_scope() as session:
        return "\n".join(
            json.dumps([list(r) for r in session.execute(select(t)).all()], default=str)
            for t in models.Base.metadata.sorted_tables
        )


def _files(outbox: Path) -> str:
    return "\n".join(p.read_text() for p in sorted(outbox.rglob("*.json")))


def _api(client: TestClient, alert_ids: list[int]) -> str:
    pages = [client.get("/v1/alerts", params={"limit": 50}, headers=auth("read")).text]
    pages += [client.get(f"/v1/alerts/{i}", headers=auth("read")).text for i in alert_ids]
    return "\n".join(pages)


def _everywhere(client: TestClient, outbox: Path, alert_ids: list[int]) -> dict[str, str]:
    return {"database": _dump(), "outbox": _files(outbox), "api": _api(client, alert_ids)}


def test_purge_forgets_every_copy(
    production: str, configure: Callable[..., None], client: TestClient, tmp_path: Path
) -> None:
    """Item 3: the outbox file of an alert that quoted the user, a delivery still pending at
    purge time, a slice alert filed under another segment than the purged events', and the
    purge's own tombstones all held the user's text or id."""
    outbox = tmp_path / "outbox"
    configure(alert_outbox_dir=outbox, attribution_resamples=0)
    events = [
        _event("u1-a", who="walter", n=1, tenant="globex", at=NOW - timedelta(minutes=5)),
        _event("u3-a", who="xenia", n=3, tenant="globex", at=NOW - timedelta(minutes=4)),
        _event("u2-a", who="yvonne", n=2, tenant="acme", at=NOW - timedelta(minutes=3)),
        _event("u2-b", who="yvonne", n=4, tenant="acme", at=NOW - timedelta(minutes=2)),
    ]
    assert client.post("/v1/events", json=events, headers=auth()).json()["new"] == 4
    with session_scope() as session:
        for event_id in ("u1-a", "u3-a", "u2-a"):
            _judge(session, event_id)
        drift_alert, drift_deliveries = _drift_alert(session, "tenant=globex", NOW)
        # Filed under acme (where walter sent nothing), quoting walter's globex request.
        slice_alert, slice_deliveries = _slice_alert(session, "tenant=acme", ["u1-a", "u2-a"], NOW)
    assert drift_deliveries and slice_deliveries
    for delivery_id in drift_deliveries:
        assert _deliver(delivery_id) == DeliveryStatus.DELIVERED
    # The slice alert's notification is still pending when the purge runs.

    before = _everywhere(client, outbox, [drift_alert, slice_alert])
    for where in ("database", "outbox", "api"):
        assert "walrus of walter" in before[where], where
    assert "flagship text on u1-a" in before["database"]

    out = CliRunner().invoke(cli, ["purge", "--user", "walter", "--yes"])
    assert out.exit_code == 0, out.output
    assert "examples removed from 2 alerts" in out.output

    for delivery_id in slice_deliveries:  # sent after the purge: rendered again without it
        assert _deliver(delivery_id) == DeliveryStatus.DELIVERED
    after = _everywhere(client, outbox, [drift_alert, slice_alert])
    for where, text in after.items():
        for gone in ("walrus of walter", "flagship text on u1-a", "rationale on u1-a", "walter"):
            assert gone not in text, (where, gone)
    # What the others sent stays, in the same alerts and in the re-rendered notification.
    assert "walrus of xenia" in after["database"] and "walrus of xenia" in after["api"]
    assert "walrus of yvonne" in after["outbox"] and "walrus of yvonne" in after["api"]
    with session_scope() as session:
        reasons = set(session.scalars(select(models.PurgedEvent.reason)))
        assert reasons == {"purge by user"}
        left = session.scalars(select(models.TextCopy.event_pk).distinct()).all()
        gone = session.scalars(
            select(models.TrafficEvent.id).where(models.TrafficEvent.event_id == "u1-a")
        ).all()
        assert left and not gone


def test_purge_while_an_outbox_file_is_being_written(
    production: str, configure: Callable[..., None], client: TestClient, tmp_path: Path
) -> None:
    """A sender that claimed its delivery before the purge writes the old payload after it:
    the file is withdrawn and the delivery sent again without the purged text."""
    outbox = tmp_path / "outbox"
    configure(alert_outbox_dir=outbox, attribution_resamples=0)
    events = [
        _event("w-1", who="walter", n=1, tenant="globex", at=NOW - timedelta(minutes=2)),
        _event("x-1", who="xenia", n=2, tenant="globex", at=NOW - timedelta(minutes=1)),
    ]
    assert client.post("/v1/events", json=events, headers=auth()).json()["new"] == 2
    with session_scope() as session:
        alert_id, (delivery_id,) = _drift_alert(session, "tenant=globex", NOW)
    settings = get_settings()
    with session_scope() as session:
        claim = delivery.claim_delivery(session, delivery_id, settings, NOW)
    assert not isinstance(claim, str)

    out = CliRunner().invoke(cli, ["purge", "--user", "walter", "--yes"])
    assert out.exit_code == 0, out.output
    delivery.send_claimed(claim, settings)  # the old payload lands on disk after the purge
    assert "walrus of walter" in _files(outbox)
    with session_scope() as session:
        status = delivery.record_outcome(session, claim, settings, NOW)
    assert status == DeliveryStatus.PENDING and _files(outbox) == ""

    assert _deliver(delivery_id) == DeliveryStatus.DELIVERED
    everywhere = _everywhere(client, outbox, [alert_id])
    for where, text in everywhere.items():
        assert "walrus of walter" not in text, where
    assert "walrus of xenia" in everywhere["outbox"]


def test_retention_forgets_copies_of_backfilled_events(
    production: str, configure: Callable[..., None], client: TestClient, tmp_path: Path
) -> None:
    """Item 4: events dated last year, ingested today, quoted by an alert opened today: the
    daily run empties their text in the alert, its payloads and its outbox file too (they
    are selected by the quoted events' time, not by their own)."""
    outbox = tmp_path / "outbox"
    configure(alert_outbox_dir=outbox, attribution_resamples=0, retention_days=90)
    last_year = datetime(2025, 6, 1, 12, tzinfo=UTC)
    events = [
        _event("old-1", who="oswald", n=1, tenant="globex", at=last_year),
        _event("old-2", who="oswald", n=2, tenant="globex", at=last_year + timedelta(hours=1)),
        _event("new-1", who="nadia", n=3, tenant="globex", at=NOW - timedelta(hours=1)),
        _event("old-3", who="oswald", n=5, tenant="acme", at=last_year + timedelta(hours=2)),
    ]
    assert client.post("/v1/events", json=events, headers=auth()).json()["new"] == 4
    with session_scope() as session:
        _judge(session, "old-1")
        drift_alert, sent = _drift_alert(session, "tenant=globex", NOW)
        slice_alert, pending = _slice_alert(session, "tenant=acme", ["old-3"], NOW)
    for delivery_id in sent:
        assert _deliver(delivery_id) == DeliveryStatus.DELIVERED
    before = _everywhere(client, outbox, [drift_alert, slice_alert])
    for where in ("database", "outbox", "api"):
        assert "walrus of oswald" in before[where], where

    with session_scope() as session:
        result = run_daily(session, datetime.now(UTC), get_settings())
    assert (result.alerts, result.outbox_files) == (2, 1)
    for delivery_id in pending:  # sent after the run: rendered again without the old text
        assert _deliver(delivery_id) == DeliveryStatus.DELIVERED

    after = _everywhere(client, outbox, [drift_alert, slice_alert])
    for where, text in after.items():
        for gone in ("walrus of oswald", "flagship text on old-1", "rationale on old-1"):
            assert gone not in text, (where, gone)
    assert "walrus of nadia" in after["database"] and "walrus of nadia" in after["api"]
    with session_scope() as session:
        alert = session.get(models.Alert, drift_alert)
        assert alert is not None
        examples = {e["event_id"]: e for e in alert.evidence["examples"]}
        assert examples["old-1"]["prompt"] is None and examples["old-1"]["winner"] == "flagship"
        assert "nadia" in (examples["new-1"]["prompt"] or "")
    with session_scope() as session:  # idempotent
        again = run_daily(session, datetime.now(UTC), get_settings())
    assert (again.alerts, again.deliveries, again.outbox_files) == (0, 0, 0)


def test_every_copy_the_lifecycle_writes_is_registered(
    production: str, configure: Callable[..., None], client: TestClient, tmp_path: Path
) -> None:
    """The registry holds each alert's quoted examples, each delivery's and each outbox
    file's, however the alert was opened or updated."""
    configure(alert_outbox_dir=tmp_path / "outbox", attribution_resamples=0, renotify_hours=0)
    first = [_event(f"e-{i}", who="ann", n=i, tenant="globex", at=NOW) for i in range(2)]
    assert client.post("/v1/events", json=first, headers=auth()).json()["new"] == 2
    with session_scope() as session:
        drift_alert, sent = _drift_alert(session, "tenant=globex", NOW)
        slice_alert, _ = _slice_alert(session, "tenant=globex", ["e-0"], NOW)
    more = [_event(f"e-{i}", who="bob", n=i, tenant="globex", at=NOW) for i in range(2, 5)]
    assert client.post("/v1/events", json=more, headers=auth()).json()["new"] == 3
    with session_scope() as session:  # a second drift on the open alert: new examples
        again, renotified = _drift_alert(session, "tenant=globex", NOW + timedelta(hours=1))
    assert again == drift_alert and renotified
    for delivery_id in sent + renotified:
        assert _deliver(delivery_id) == DeliveryStatus.DELIVERED

    with session_scope() as session:
        rows = session.execute(
            select(models.TextCopy.kind, models.TextCopy.copy_id, models.TextCopy.event_pk)
        ).all()
        registered: dict[tuple[str, int], set[int]] = {}
        for kind, copy_id, event_pk in rows:
            registered.setdefault((kind, copy_id), set()).add(event_pk)
        for alert_id in (drift_alert, slice_alert):
            alert = session.get(models.Alert, alert_id)
            assert alert is not None
            quoted = copies.quoted_events(alert.evidence)
            assert quoted and registered[(copies.ALERT, alert_id)] == quoted
        assert len(copies.quoted_events(session.get(models.Alert, drift_alert).evidence)) == 3
        for delivery_id in sent + renotified:
            assert registered[(copies.DELIVERY, delivery_id)]
            assert registered[(copies.OUTBOX_FILE, delivery_id)] == (
                registered[(copies.DELIVERY, delivery_id)]
            )
        paths = session.scalars(
            select(models.TextCopy.path).where(models.TextCopy.kind == copies.OUTBOX_FILE)
        ).all()
    assert paths and all(Path(p).is_file() for p in paths)


def test_migration_registers_stored_copies_and_forgets_purged_user_ids(postgres_url: str) -> None:
    """0012 registers the copies already stored and drops the user ids old purges kept."""
    from shadowgap.db.engine import make_engine
    from shadowgap.db.migrate import upgrade

    upgrade(postgres_url, "0011")
    engine = make_engine(postgres_url)
    example = {"event_pk": 7, "event_id": "e-7", "prompt": "old text", "winner": "cheap"}
    emptied = {"event_pk": 8, "event_id": "e-8", "prompt": None, "winner": "cheap"}
    try:
        with Session(engine) as session:
            segment = models.Segment(key="tenant=a", dimensions={"tenant": "a"})
            session.add(segment)
            session.flush()
            alert = models.Alert(
                segment_id=segment.id,
                signal="quality_gap",
                status="open",
                severity="error",
                evidence={"examples": [example, emptied]},
            )
            session.add(alert)
            session.flush()
            payload = {"id": "abc", "action": "trigger", "alert": {"id": alert.id}}
            for channel, body in (
                ("outbox", {**payload, "evidence": {"examples": [example]}}),
                ("slack", {"text": "old text"}),
                ("slack", {"expired": "retention"}),
            ):
                session.add(
                    models.Delivery(
                        alert_id=alert.id,
                        channel=channel,
                        action="trigger",
                        status="delivered",
                        payload=body,
                    )
                )
            session.add(models.PurgedEvent(event_id="gone", reason="segment=tenant=a user=u-17"))
            session.commit()
        upgrade(postgres_url)
        with Session(engine) as session:
            rows = session.execute(
                select(models.TextCopy.kind, models.TextCopy.path, models.TextCopy.event_pk)
            ).all()
            reason = session.scalars(select(models.PurgedEvent.reason)).one()
    finally:
        engine.dispose()
    assert sorted((kind, path, pk) for kind, path, pk in rows) == [
        ("alert", None, 7),
        ("delivery", None, 7),
        ("delivery", None, 7),
        ("outbox_file", f"alert-{alert.id}-trigger-abc.json", 7),
    ]
    assert reason == "purge by segment and user"
