"""The registry of request-text copies: every copy the alert lifecycle and the sender write
is registered with the events it quotes, and the migration registers those already stored."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from shadowgap.db import models
from shadowgap.db.engine import session_scope
from shadowgap.enums import DeliveryStatus
from shadowgap.privacy import copies
from tests.support.settings import auth
from tests.support.text_copies import deliver, open_drift, open_slice, traffic

NOW = datetime.now(UTC)


def test_every_copy_the_lifecycle_writes_is_registered(
    production: str, configure: Callable[..., None], client: TestClient, tmp_path: Path
) -> None:
    """The registry holds each alert's quoted examples, each delivery's and each outbox
    file's, however the alert was opened or updated."""
    configure(alert_outbox_dir=tmp_path / "outbox", attribution_resamples=0, renotify_hours=0.5)
    first = [traffic(f"e-{i}", who="ann", n=i, tenant="globex", at=NOW) for i in range(2)]
    assert client.post("/v1/events", json=first, headers=auth()).json()["new"] == 2
    with session_scope() as session:
        drift_alert, sent = open_drift(session, "tenant=globex", NOW)
        slice_alert, _ = open_slice(session, "tenant=globex", ["e-0"], NOW)
    more = [traffic(f"e-{i}", who="bob", n=i, tenant="globex", at=NOW) for i in range(2, 5)]
    assert client.post("/v1/events", json=more, headers=auth()).json()["new"] == 3
    with session_scope() as session:  # a second drift on the open alert: new examples
        again, renotified = open_drift(session, "tenant=globex", NOW + timedelta(hours=1))
    assert again == drift_alert and renotified
    for delivery_id in sent + renotified:
        assert deliver(delivery_id) == DeliveryStatus.DELIVERED

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
        drift = session.get(models.Alert, drift_alert)
        assert drift is not None and len(copies.quoted_events(drift.evidence)) == 3
        for delivery_id in sent + renotified:
            assert registered[(copies.DELIVERY, delivery_id)]
            file_quotes = registered[(copies.OUTBOX_FILE, delivery_id)]
            assert file_quotes == registered[(copies.DELIVERY, delivery_id)]
        paths = session.scalars(
            select(models.TextCopy.path).where(models.TextCopy.kind == copies.OUTBOX_FILE)
        ).all()
    assert paths and all(p is not None and Path(p).is_file() for p in paths)


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
            alert_id = alert.id
            payload = {"id": "abc", "action": "trigger", "alert": {"id": alert_id}}
            for channel, body in (
                ("outbox", {**payload, "evidence": {"examples": [example]}}),
                ("slack", {"text": "old text"}),
                ("slack", {"expired": "retention"}),
            ):
                session.add(
                    models.Delivery(
                        alert_id=alert_id,
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
        ("outbox_file", f"alert-{alert_id}-trigger-abc.json", 7),
    ]
    assert reason == "purge by segment and user"
