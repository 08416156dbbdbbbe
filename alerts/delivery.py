"""Sending Delivery rows through their channel, with every attempt on record.

:func:`attempt_delivery` sends one pending delivery and records a DeliveryAttempt for every send
it makes (status code, redacted error). Outcomes:

* sent: ``delivered``;
* refused for good (4xx other than 408/429, a channel that is not configured): ``failed``;
* transient (429, 5xx, timeouts, connection errors): stays ``pending`` and the DeliveryError is
  re-raised for the task shell to retry with backoff (``retry_after`` carries the receiver's
  Retry-After);
* older than ``delivery_max_age_hours`` when its turn comes: ``expired``, nothing sent;
* a trigger or re-notify whose alert has meanwhile been resolved: ``expired``, nothing sent
  (paging for a problem that is already over helps nobody; the resolve message still goes out).

The function never commits, but the attempt row matters most when the send failed: the task
shell must commit before letting the error through, e.g.::

    with session_scope() as session:
        try:
            attempt_delivery(session, delivery_id, settings, now)
        except DeliveryError as exc:
            error = exc            # session_scope commits the attempt row on exit
    if error is not None:
        raise task.retry(exc=error, countdown=error.retry_after or backoff)

:func:`pending_deliveries` lists what a periodic sweep should try again, so a channel that is
down loses nothing: its deliveries go out when it comes back (or expire).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from alerts.channels import CHANNELS
from alerts.http import redact
from service.config import Settings
from service.errors import DeliveryError, NotFound
from service.models import Alert, Delivery, DeliveryAttempt

log = logging.getLogger(__name__)

# The sweep leaves a delivery alone for 30 s x 2^attempts (at most an hour) after its last
# attempt, so it does not race the task that is already retrying it.
SWEEP_BASE_SECONDS = 30.0
SWEEP_MAX_SECONDS = 3600.0


def _finish(delivery: Delivery, status: str, error: str | None = None) -> str:
    delivery.status = status
    if error is not None:
        delivery.last_error = error
    if status == "delivered":
        log.info("alert delivery %s (%s) delivered", delivery.id, delivery.channel)
    else:
        # last_error is always redacted before it is stored, so it is safe to log.
        log.warning(
            "alert delivery %s (%s) %s: %s",
            delivery.id,
            delivery.channel,
            status,
            delivery.last_error,
        )
    return status


def attempt_delivery(session: Session, delivery_id: int, settings: Settings, now: datetime) -> str:
    """Send a pending delivery; returns its status (see the module docstring)."""
    # FOR UPDATE (a no-op on SQLite) keeps a sweep and a retrying task from sending twice.
    delivery = session.scalar(
        select(Delivery)
        .where(Delivery.id == delivery_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if delivery is None:
        raise NotFound(f"delivery {delivery_id} not found")
    if delivery.status != "pending":
        return delivery.status
    max_age = timedelta(hours=settings.delivery_max_age_hours)
    if now - delivery.created_at >= max_age:
        hours = settings.delivery_max_age_hours
        return _finish(delivery, "expired", f"expired: not delivered within {hours:g} h")
    alert = session.get(Alert, delivery.alert_id)
    if delivery.action != "resolve" and alert is not None and alert.status == "resolved":
        return _finish(delivery, "expired", "expired: alert resolved before delivery")
    channel = CHANNELS.get(delivery.channel)
    if channel is None:
        return _finish(delivery, "failed", f"unknown channel {delivery.channel!r}")

    delivery.attempts = (delivery.attempts or 0) + 1
    try:
        status_code = channel.send(delivery.payload, settings)
    except DeliveryError as exc:
        error = redact(exc.message, settings)
        session.add(
            DeliveryAttempt(
                delivery_id=delivery.id,
                attempted_at=now,
                status_code=exc.http_status,
                error=error,
                ok=False,
            )
        )
        delivery.last_error = error
        session.flush()
        if not exc.transient:
            return _finish(delivery, "failed")
        log.info(
            "alert delivery %s (%s) attempt %s will be retried: %s",
            delivery.id,
            delivery.channel,
            delivery.attempts,
            error,
        )
        raise
    session.add(
        DeliveryAttempt(delivery_id=delivery.id, attempted_at=now, status_code=status_code, ok=True)
    )
    delivery.delivered_at = now
    delivery.last_error = None
    result = _finish(delivery, "delivered")
    session.flush()
    return result


def _sweep_delay(attempts: int) -> timedelta:
    return timedelta(seconds=min(SWEEP_BASE_SECONDS * 2 ** min(attempts, 20), SWEEP_MAX_SECONDS))


def pending_deliveries(session: Session, now: datetime) -> list[int]:
    """Pending deliveries due for another try, oldest first (a trigger before its resolve)."""
    last_attempt = (
        select(
            DeliveryAttempt.delivery_id,
            func.max(DeliveryAttempt.attempted_at).label("last_at"),
        )
        .group_by(DeliveryAttempt.delivery_id)
        .subquery()
    )
    rows = session.execute(
        select(Delivery.id, Delivery.created_at, Delivery.attempts, last_attempt.c.last_at)
        .outerjoin(last_attempt, last_attempt.c.delivery_id == Delivery.id)
        .where(Delivery.status == "pending")
        .order_by(Delivery.id)
    ).all()
    due: list[int] = []
    for delivery_id, created_at, attempts, last_at in rows:
        since = last_at or created_at
        if now - since >= _sweep_delay(attempts or 0):
            due.append(delivery_id)
    return due
