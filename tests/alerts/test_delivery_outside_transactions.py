"""No transaction is open while a channel answers: a slow Slack must not hold the database.

On SQLite every transaction is the database's write lock (BEGIN IMMEDIATE), so a delivery that
called Slack inside its transaction made every ingest request wait for Slack's answer.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from fastapi.testclient import TestClient

from shadowgap.alerts.lifecycle import open_or_update
from shadowgap.config import get_settings
from shadowgap.db.engine import session_scope
from shadowgap.db.models import Delivery
from tests.support.alert_receiver import Received, Receiver
from tests.support.alert_rows import SLACK_PATH, add_drift, add_event, add_segment
from tests.support.factories import native_event
from tests.support.settings import auth


def test_a_slow_slack_does_not_block_ingest(embedded: str, configure, client: TestClient) -> None:
    order: list[str] = []
    ingested = threading.Event()
    got_request = threading.Event()

    def slow(request: Received) -> tuple[int, dict[str, str], bytes]:
        got_request.set()
        # Holds the request until ingest is done (or 8 s, under the sender's 10 s timeout).
        ingested.wait(timeout=8)
        order.append("slack answered")
        return 200, {}, b"ok"

    receiver = Receiver()
    receiver.respond(slow)
    try:
        configure(slack_webhook_url=receiver.url(SLACK_PATH))
        now = datetime.now(UTC)
        with session_scope() as session:
            segment = add_segment(session, "tenant=acme", 100)
            event = add_event(session, segment, 1, winner="flagship", gap=0.8, when=now)
            drift = add_drift(session, segment, at_event_pk=event.id, when=now)
            (delivery_id,) = open_or_update(session, drift.id, get_settings(), now)

        from shadowgap.alerts.tasks import deliver

        results: list[str] = []
        sender = threading.Thread(target=lambda: results.append(deliver(delivery_id)))
        sender.start()
        assert got_request.wait(timeout=60), "the delivery never reached the receiver"

        response = client.post(
            "/v1/events", json=[native_event("while-slack-waits")], headers=auth()
        )
        order.append("ingested")
        ingested.set()
        sender.join(timeout=60)
    finally:
        receiver.close()

    assert response.status_code == 200, response.text
    # Ingest committed while Slack still held the request: nothing waited on the network call.
    assert order == ["ingested", "slack answered"]
    assert results == ["delivered"]
    with session_scope() as session:
        stored = session.get(Delivery, delivery_id)
        assert stored is not None and stored.status == "delivered" and stored.claimed_until is None
