"""Alert stage: open/update alerts from drift events, resolve on recovery, deliver."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from shadowgap.alerts import delivery, lifecycle
from shadowgap.config import get_settings
from shadowgap.db.engine import session_scope
from shadowgap.enums import DeliveryStatus
from shadowgap.errors import DeliveryError
from shadowgap.worker import queue
from shadowgap.worker.app import app
from shadowgap.worker.retries import DELIVERIES

log = logging.getLogger(__name__)


def _send_deliveries(delivery_ids: list[int]) -> None:
    for delivery_id in delivery_ids:
        queue.send("alerts.deliver", [delivery_id])


@app.task(name="alerts.evaluate", acks_late=True, soft_time_limit=120, time_limit=150)
def evaluate(drift_event_id: int) -> int:
    with session_scope() as session:
        delivery_ids = lifecycle.open_or_update(
            session, drift_event_id, get_settings(), datetime.now(UTC)
        )
    _send_deliveries(delivery_ids)
    return len(delivery_ids)


@app.task(name="alerts.observe", acks_late=True, soft_time_limit=120, time_limit=150)
def observe(
    segment_id: int,
    signal: str,
    recent_mean: float | None,
    recent_n: int,
    at_n_updates: int | None = None,
) -> int:
    with session_scope() as session:
        delivery_ids = lifecycle.observe(
            session,
            segment_id,
            signal,
            recent_mean,
            recent_n,
            get_settings(),
            datetime.now(UTC),
            at_n_updates=at_n_updates,
        )
    _send_deliveries(delivery_ids)
    return len(delivery_ids)


@app.task(name="alerts.deliver", **DELIVERIES.task_options(soft_time_limit=60, time_limit=90))
def deliver(self, delivery_id: int) -> str:  # type: ignore[no-untyped-def]
    settings = get_settings()
    # Claim, call, record: no transaction is open while the channel answers (see
    # shadowgap.alerts.delivery), so a slow Slack cannot hold the database.
    with session_scope() as session:
        claim = delivery.claim_delivery(session, delivery_id, settings, datetime.now(UTC))
    if isinstance(claim, str):
        return claim
    status_code: int | None = None
    failure: DeliveryError | None = None
    try:
        status_code = delivery.send_claimed(claim, settings)
    except DeliveryError as exc:
        failure = exc
    with session_scope() as session:
        status = delivery.record_outcome(
            session, claim, settings, datetime.now(UTC), status_code=status_code, error=failure
        )
    # A pending delivery is picked up by alerts.sweep again, even when retries run out.
    if failure is not None and status == DeliveryStatus.PENDING and DELIVERIES.may_retry(self):
        DELIVERIES.retry(self, failure, failure.retry_after)
    return status


@app.task(name="alerts.sweep", acks_late=True, soft_time_limit=120, time_limit=150)
def sweep() -> int:
    settings = get_settings()
    now = datetime.now(UTC)
    with session_scope() as session:
        no_data = lifecycle.check_no_data(session, settings, now)
    with session_scope() as session:
        pending = delivery.pending_deliveries(session, now)
    _send_deliveries(no_data + [d for d in pending if d not in no_data])
    return len(pending)
