"""Delivery through real local HTTP receivers: retries, expiry, signatures, no leaked secrets."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import socket
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.orm import Session

from shadowgap.alerts.delivery import pending_deliveries
from shadowgap.alerts.lifecycle import observe, open_or_update
from shadowgap.db.models import Delivery, DeliveryAttempt
from shadowgap.errors import DeliveryError
from tests.support.alert_formats import pagerduty_problems, slack_problems
from tests.support.alert_receiver import Receiver
from tests.support.alert_rows import (
    NOW,
    ROUTING_KEY,
    SLACK_PATH,
    WEBHOOK_SECRET,
    Settings,
    add_drift,
    add_event,
    add_segment,
    attempt_delivery,
    make_settings,
)


def open_alert(session: Session, settings: Settings) -> dict[str, int]:
    """One critical quality drift on tenant=acme with judged examples; delivery id by channel."""
    acme = add_segment(session, "tenant=acme", 9000)
    add_segment(session, "tenant=globex", 1000)
    last = add_event(
        session,
        acme,
        1,
        answer="The answer is 12.",
        winner="flagship",
        gap=0.8,
        rationale="The cheap model forgot the two apples added in step 3.",
        flagship="Step 1 ... step 3 adds 2, so the answer is 14.",
    )
    drift = add_drift(session, acme, at_event_pk=last.id, after_n=25)
    ids = open_or_update(session, drift.id, settings, NOW)
    return {session.get(Delivery, i).channel: i for i in ids}  # type: ignore[union-attr]


def attempts_of(session: Session, delivery_id: int) -> list[DeliveryAttempt]:
    query = select(DeliveryAttempt).where(DeliveryAttempt.delivery_id == delivery_id)
    return list(session.scalars(query.order_by(DeliveryAttempt.id)))


def by_path(receiver: Receiver, prefix: str) -> list:  # type: ignore[type-arg]
    return [r for r in receiver.requests if r.path.startswith(prefix)]


def test_trigger_and_resolve_reach_every_channel_in_documented_formats(
    session: Session, wired: Settings, receiver: Receiver
) -> None:
    ids = open_alert(session, wired)
    for delivery_id in ids.values():
        assert attempt_delivery(session, delivery_id, wired, NOW) == "delivered"

    slack = by_path(receiver, "/services/")[0]
    assert slack.path == SLACK_PATH
    assert slack_problems(slack.json()) == []
    example = next(
        b for b in slack.json()["blocks"] if "Example 1" in b.get("text", {}).get("text", "")
    )
    assert "forgot the two apples" in example["text"]["text"]
    assert "answer is 14" in example["text"]["text"]
    pd_trigger = by_path(receiver, "/pagerduty/")[0].json()
    assert pagerduty_problems(pd_trigger) == []
    assert pd_trigger["routing_key"] == ROUTING_KEY and pd_trigger["event_action"] == "trigger"
    assert by_path(receiver, "/hooks/")[0].json()["action"] == "trigger"

    later = NOW + timedelta(hours=3)
    resolve_ids = observe(session, 1, "quality_gap", 0.05, 50, wired, later)
    assert len(resolve_ids) == 3
    for delivery_id in resolve_ids:
        assert attempt_delivery(session, delivery_id, wired, later) == "delivered"
    pd_resolve = by_path(receiver, "/pagerduty/")[1].json()
    assert pagerduty_problems(pd_resolve) == []
    assert pd_resolve["event_action"] == "resolve"
    assert pd_resolve["dedup_key"] == pd_trigger["dedup_key"]
    assert slack_problems(by_path(receiver, "/services/")[1].json()) == []
    assert by_path(receiver, "/hooks/")[1].json()["alert"]["status"] == "resolved"


def test_webhook_signature_verifies_with_the_secret(
    session: Session, wired: Settings, receiver: Receiver
) -> None:
    ids = open_alert(session, wired)
    attempt_delivery(session, ids["webhook"], wired, NOW)

    request = by_path(receiver, "/hooks/")[0]
    timestamp = request.headers["X-Shadowgap-Timestamp"]
    expected = hmac.new(
        WEBHOOK_SECRET.encode(), f"{timestamp}.".encode() + request.body, hashlib.sha256
    ).hexdigest()
    assert request.headers["X-Shadowgap-Signature"] == f"sha256={expected}"
    wrong = hmac.new(b"not-the-secret", f"{timestamp}.".encode() + request.body, hashlib.sha256)
    assert request.headers["X-Shadowgap-Signature"] != f"sha256={wrong.hexdigest()}"
    body = json.loads(request.body)
    assert body["evidence"]["examples"][0]["flagship_answer"].endswith("answer is 14.")
    assert request.headers["X-Shadowgap-Delivery"] == body["id"]


def test_500_then_429_then_200_is_delivered_on_the_third_attempt(
    session: Session, wired: Settings, receiver: Receiver
) -> None:
    ids = open_alert(session, wired)
    receiver.respond(
        (500, {}, b"internal error"),
        (429, {"Retry-After": "7"}, b"rate limited"),
        (200, {}, b"ok"),
    )

    # Each failed attempt is committed before the error goes on, as the task shell does.
    with pytest.raises(DeliveryError) as first:
        attempt_delivery(session, ids["slack"], wired, NOW)
    session.commit()
    assert first.value.transient and first.value.http_status == 500
    with pytest.raises(DeliveryError) as second:
        attempt_delivery(session, ids["slack"], wired, NOW + timedelta(seconds=30))
    session.commit()
    assert second.value.transient and second.value.retry_after == 7.0
    assert session.get(Delivery, ids["slack"]).status == "pending"  # type: ignore[union-attr]
    status = attempt_delivery(session, ids["slack"], wired, NOW + timedelta(seconds=40))

    delivery = session.get(Delivery, ids["slack"])
    assert status == "delivered" and delivery is not None
    assert (delivery.status, delivery.attempts) == ("delivered", 3)
    assert delivery.delivered_at == NOW + timedelta(seconds=40)
    rows = attempts_of(session, ids["slack"])
    assert [(a.status_code, a.ok) for a in rows] == [(500, False), (429, False), (200, True)]
    assert "HTTP 500" in (rows[0].error or "") and rows[2].error is None
    # Delivered stays delivered: a late retry does not send again.
    assert attempt_delivery(session, ids["slack"], wired, NOW + timedelta(minutes=1)) == "delivered"
    assert len(by_path(receiver, "/services/")) == 3


def test_transient_failures_expire_after_max_age(
    session: Session, wired: Settings, receiver: Receiver
) -> None:
    ids = open_alert(session, wired)
    receiver.default = (503, {}, b"down")
    with pytest.raises(DeliveryError):
        attempt_delivery(session, ids["pagerduty"], wired, NOW)

    status = attempt_delivery(session, ids["pagerduty"], wired, NOW + timedelta(hours=24))

    delivery = session.get(Delivery, ids["pagerduty"])
    assert status == "expired" and delivery is not None and delivery.status == "expired"
    assert "not delivered within 24 h" in (delivery.last_error or "")
    assert len(attempts_of(session, ids["pagerduty"])) == 1
    assert len(by_path(receiver, "/pagerduty/")) == 1  # nothing sent once expired


def test_client_error_fails_without_retry(
    session: Session, wired: Settings, receiver: Receiver
) -> None:
    ids = open_alert(session, wired)
    receiver.respond((400, {}, b'{"status":"invalid event"}'))
    assert attempt_delivery(session, ids["pagerduty"], wired, NOW) == "failed"
    rows = attempts_of(session, ids["pagerduty"])
    assert [(a.status_code, a.ok) for a in rows] == [(400, False)]
    assert "invalid event" in (rows[0].error or "")


def test_no_secret_in_attempt_errors_or_logs(
    session: Session,
    wired: Settings,
    receiver: Receiver,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    ids = open_alert(session, wired)

    def echo(request):  # type: ignore[no-untyped-def]
        # A hostile or chatty receiver that repeats what it got, secrets included.
        # The body's tail is where PagerDuty's routing_key sits.
        tail = request.body.decode()[-120:]
        return 403, {}, f"bad token {request.path} {tail}".encode()

    receiver.respond(echo, echo, echo)
    for channel in ("slack", "pagerduty", "webhook"):
        assert attempt_delivery(session, ids[channel], wired, NOW) == "failed"
    # A receiver that is not there at all: connection refused, transient.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    down = wired.model_copy(
        update={"slack_webhook_url": SecretStr(f"http://127.0.0.1:{closed_port}{SLACK_PATH}")}
    )
    alert_id = session.get(Delivery, ids["slack"]).alert_id  # type: ignore[union-attr]
    fresh = Delivery(
        alert_id=alert_id,
        channel="slack",
        action="renotify",
        status="pending",
        payload={"text": "x", "blocks": []},
        attempts=0,
        created_at=NOW,
    )
    session.add(fresh)
    session.flush()
    with pytest.raises(DeliveryError) as refused:
        attempt_delivery(session, fresh.id, down, NOW)
    assert refused.value.transient and refused.value.http_status is None

    errors = [a.error or "" for a in session.scalars(select(DeliveryAttempt))]
    errors += [d.last_error or "" for d in session.scalars(select(Delivery))]
    text = "\n".join(errors) + "\n" + caplog.text
    assert "bad token" in text and "[redacted]" in text
    for secret in (
        ROUTING_KEY,
        WEBHOOK_SECRET,
        "xoxSlackTokenSecret123",
        "T0SECRET",
        "hooktokensecret",
        SLACK_PATH,
    ):
        assert secret not in text, secret


def test_a_channel_that_is_down_loses_nothing(
    session: Session, wired: Settings, receiver: Receiver
) -> None:
    ids = open_alert(session, wired)
    receiver.default = (502, {}, b"bad gateway")
    for delivery_id in ids.values():
        with pytest.raises(DeliveryError):
            attempt_delivery(session, delivery_id, wired, NOW)
    # Just attempted: the sweep leaves them to the retrying task for a while.
    assert pending_deliveries(session, NOW + timedelta(seconds=10)) == []
    receiver.default = (200, {}, b"ok")
    due = pending_deliveries(session, NOW + timedelta(minutes=5))
    assert due == sorted(ids.values())
    assert [attempt_delivery(session, i, wired, NOW + timedelta(minutes=5)) for i in due] == [
        "delivered"
    ] * 3
    assert pending_deliveries(session, NOW + timedelta(hours=1)) == []


def test_sweep_lists_a_trigger_before_its_resolve_and_skips_stale_triggers(
    session: Session, wired: Settings, receiver: Receiver
) -> None:
    ids = open_alert(session, wired)
    later = NOW + timedelta(hours=1)
    resolve_ids = observe(session, 1, "quality_gap", 0.05, 50, wired, later)
    due = pending_deliveries(session, later + timedelta(minutes=1))
    assert due == sorted([*ids.values(), *resolve_ids])
    statuses = [attempt_delivery(session, i, wired, later + timedelta(minutes=1)) for i in due]
    # The alert resolved before its triggers went out: no page for a problem that is over.
    assert statuses == ["expired"] * 3 + ["delivered"] * 3
    assert {r.json().get("event_action") for r in by_path(receiver, "/pagerduty/")} == {"resolve"}
    trigger = session.get(Delivery, ids["pagerduty"])
    assert trigger is not None and trigger.last_error == "expired: alert resolved before delivery"


def test_outbox_when_no_channel_is_configured(session: Session, tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    ids = open_alert(session, settings)
    assert list(ids) == ["outbox"]
    assert attempt_delivery(session, ids["outbox"], settings, NOW) == "delivered"
    files = sorted((tmp_path / "outbox").glob("*.json"))
    assert len(files) == 1 and files[0].name.startswith("alert-1-trigger-")
    body = json.loads(files[0].read_text())
    assert body["alert"]["severity"] == "critical"
    assert body["evidence"]["examples"][0]["rationale"].startswith("The cheap model forgot")
    (attempt,) = attempts_of(session, ids["outbox"])
    assert attempt.ok and attempt.status_code is None
