"""Purge and retention forget every copy of a request's text: after them the text is gone
from every table, every file in the outbox and every API response, on PostgreSQL (issue 22,
items 3 and 4). The alerts are opened by the alert lifecycle itself (a drift event, a confirmed
slice) and sent by the delivery steps the ``alerts.deliver`` task runs, so the copies are
written as in production."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from shadowgap.alerts import delivery
from shadowgap.cli.main import app as cli
from shadowgap.config import get_settings
from shadowgap.db import models
from shadowgap.db.engine import session_scope
from shadowgap.enums import DeliveryStatus
from shadowgap.privacy.retention import run_daily
from tests.support.settings import auth
from tests.support.text_copies import (
    deliver,
    everywhere,
    files,
    judge,
    open_drift,
    open_slice,
    traffic,
)

NOW = datetime.now(UTC)


def test_purge_forgets_every_copy(
    production: str, configure: Callable[..., None], client: TestClient, tmp_path: Path
) -> None:
    """Item 3: the outbox file of an alert that quoted the user, a delivery still pending at
    purge time, a slice alert filed under another segment than the purged events', and the
    purge's own tombstones all held the user's text or id."""
    outbox = tmp_path / "outbox"
    configure(alert_outbox_dir=outbox, attribution_resamples=0)
    events = [
        traffic("u1-a", who="walter", n=1, tenant="globex", at=NOW - timedelta(minutes=5)),
        traffic("u3-a", who="xenia", n=3, tenant="globex", at=NOW - timedelta(minutes=4)),
        traffic("u2-a", who="yvonne", n=2, tenant="acme", at=NOW - timedelta(minutes=3)),
        traffic("u2-b", who="yvonne", n=4, tenant="acme", at=NOW - timedelta(minutes=2)),
    ]
    assert client.post("/v1/events", json=events, headers=auth()).json()["new"] == 4
    with session_scope() as session:
        for event_id in ("u1-a", "u3-a", "u2-a"):
            judge(session, event_id)
        drift_alert, drift_deliveries = open_drift(session, "tenant=globex", NOW)
        # Filed under acme (where walter sent nothing), quoting walter's globex request.
        slice_alert, slice_deliveries = open_slice(session, "tenant=acme", ["u1-a", "u2-a"], NOW)
    assert drift_deliveries and slice_deliveries
    for delivery_id in drift_deliveries:
        assert deliver(delivery_id) == DeliveryStatus.DELIVERED
    # The slice alert's notification is still pending when the purge runs.

    before = everywhere(client, outbox, [drift_alert, slice_alert])
    for where in ("database", "outbox", "api"):
        assert "walrus of walter" in before[where], where
    assert "flagship text on u1-a" in before["database"]

    out = CliRunner().invoke(cli, ["purge", "--user", "walter", "--yes"])
    assert out.exit_code == 0, out.output
    assert "examples removed from 2 alerts" in out.output

    for delivery_id in slice_deliveries:  # sent after the purge: rendered again without it
        assert deliver(delivery_id) == DeliveryStatus.DELIVERED
    after = everywhere(client, outbox, [drift_alert, slice_alert])
    for where, text in after.items():
        for gone in ("walrus of walter", "flagship text on u1-a", "rationale on u1-a", "walter"):
            assert gone not in text, (where, gone)
    # What the others sent stays, in the same alerts and in the re-rendered notification.
    assert "walrus of xenia" in after["database"] and "walrus of xenia" in after["api"]
    assert "walrus of yvonne" in after["outbox"] and "walrus of yvonne" in after["api"]
    with session_scope() as session:
        reasons = set(session.scalars(select(models.PurgedEvent.reason)))
        assert reasons == {"purge by user"}


def test_purge_while_an_outbox_file_is_being_written(
    production: str, configure: Callable[..., None], client: TestClient, tmp_path: Path
) -> None:
    """A sender that claimed its delivery before the purge writes the old payload after it:
    the file is withdrawn and the delivery sent again without the purged text."""
    outbox = tmp_path / "outbox"
    configure(alert_outbox_dir=outbox, attribution_resamples=0)
    events = [
        traffic("w-1", who="walter", n=1, tenant="globex", at=NOW - timedelta(minutes=2)),
        traffic("x-1", who="xenia", n=2, tenant="globex", at=NOW - timedelta(minutes=1)),
    ]
    assert client.post("/v1/events", json=events, headers=auth()).json()["new"] == 2
    with session_scope() as session:
        alert_id, (delivery_id,) = open_drift(session, "tenant=globex", NOW)
    settings = get_settings()
    with session_scope() as session:
        claim = delivery.claim_delivery(session, delivery_id, settings, NOW)
    assert not isinstance(claim, str)

    out = CliRunner().invoke(cli, ["purge", "--user", "walter", "--yes"])
    assert out.exit_code == 0, out.output
    delivery.send_claimed(claim, settings)  # the old payload lands on disk after the purge
    assert "walrus of walter" in files(outbox)
    with session_scope() as session:
        status = delivery.record_outcome(session, claim, settings, NOW)
    assert status == DeliveryStatus.PENDING and files(outbox) == ""

    assert deliver(delivery_id) == DeliveryStatus.DELIVERED
    seen = everywhere(client, outbox, [alert_id])
    for where, text in seen.items():
        assert "walrus of walter" not in text, where
    assert "walrus of xenia" in seen["outbox"]


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
        traffic("old-1", who="oswald", n=1, tenant="globex", at=last_year),
        traffic("old-2", who="oswald", n=2, tenant="globex", at=last_year + timedelta(hours=1)),
        traffic("new-1", who="nadia", n=3, tenant="globex", at=NOW - timedelta(hours=1)),
        traffic("old-3", who="oswald", n=5, tenant="acme", at=last_year + timedelta(hours=2)),
    ]
    assert client.post("/v1/events", json=events, headers=auth()).json()["new"] == 4
    with session_scope() as session:
        judge(session, "old-1")
        drift_alert, sent = open_drift(session, "tenant=globex", NOW)
        slice_alert, pending = open_slice(session, "tenant=acme", ["old-3"], NOW)
    for delivery_id in sent:
        assert deliver(delivery_id) == DeliveryStatus.DELIVERED
    before = everywhere(client, outbox, [drift_alert, slice_alert])
    for where in ("database", "outbox", "api"):
        assert "walrus of oswald" in before[where], where

    with session_scope() as session:
        result = run_daily(session, datetime.now(UTC), get_settings())
    assert (result.alerts, result.outbox_files) == (2, 1)
    for delivery_id in pending:  # sent after the run: rendered again without the old text
        assert deliver(delivery_id) == DeliveryStatus.DELIVERED

    after = everywhere(client, outbox, [drift_alert, slice_alert])
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
