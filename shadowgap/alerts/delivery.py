"""Sending Delivery rows through their channel, with every attempt on record.

A send is three steps, so that no transaction is open while a channel is called (on SQLite a
transaction is the database's write lock: a Slack that takes 10 s to answer would stall ingest
for 10 s, and on PostgreSQL it would hold a row lock and a pooled connection):

1. :func:`claim_delivery` (one short transaction) decides whether the delivery is still due
   and, if so, claims it for ``CLAIM_SECONDS``: a sweep or a retrying task leaves a claimed
   delivery alone, so it is not sent twice at the same time;
2. :func:`send_claimed` calls the channel, touching no database;
3. :func:`record_outcome` (another short transaction) stores the attempt and the new status,
   and gives the claim back.

Outcomes:

* sent: ``delivered``;
* refused for good (4xx other than 408/429, a channel that is not configured): ``failed``;
* transient (429, 5xx, timeouts, connection errors): stays ``pending``; the task shell retries
  with backoff (``DeliveryError.retry_after`` carries the receiver's Retry-After);
* older than ``delivery_max_age_hours`` when its turn comes: ``expired``, nothing sent;
* a trigger or re-notify whose alert has meanwhile been resolved: ``expired``, nothing sent
  (paging for a problem that is already over helps nobody; the resolve message still goes out).

A sender that dies between steps 1 and 3 leaves a claim that runs out after
``CLAIM_SECONDS``; :func:`pending_deliveries` then lists the delivery again, so a channel that
is down, or a worker that is killed, loses nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from shadowgap.alerts.channels import CHANNELS, outbox
from shadowgap.alerts.channels.http import redact
from shadowgap.config import Settings
from shadowgap.db.models import Alert, Delivery, DeliveryAttempt
from shadowgap.enums import AlertStatus, DeliveryAction, DeliveryStatus
from shadowgap.errors import DeliveryError, NotFound
from shadowgap.privacy import copies

log = logging.getLogger(__name__)

# The sweep leaves a delivery alone for 30 s x 2^attempts (at most an hour) after its last
# attempt, so it does not race the task that is already retrying it.
SWEEP_BASE_SECONDS = 30.0
SWEEP_MAX_SECONDS = 3600.0
# Longer than alerts.deliver's hard time limit: a claim never runs out while its sender may
# still be calling the channel.
CLAIM_SECONDS = 120.0


@dataclass(frozen=True, slots=True)
class DeliveryClaim:
    """What a sender needs to call the channel outside any transaction."""

    delivery_id: int
    channel: str
    payload: dict[str, Any]
    claimed_at: datetime
    until: datetime


def _finish(delivery: Delivery, status: DeliveryStatus, error: str | None = None) -> DeliveryStatus:
    delivery.status = status
    if error is not None:
        delivery.last_error = error
    if status == DeliveryStatus.DELIVERED:
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


def claim_delivery(
    session: Session, delivery_id: int, settings: Settings, now: datetime
) -> DeliveryClaim | str:
    """Claim a pending delivery that is due; otherwise return its status ("claimed" while
    another sender holds it). Expired and unsendable deliveries are finished here."""
    # FOR UPDATE (SQLite's BEGIN IMMEDIATE does the same) makes the check-and-claim atomic.
    delivery = session.scalar(
        select(Delivery)
        .where(Delivery.id == delivery_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if delivery is None:
        raise NotFound(f"delivery {delivery_id} not found")
    if delivery.status != DeliveryStatus.PENDING:
        return delivery.status
    if delivery.claimed_until is not None and delivery.claimed_until > now:
        return "claimed"
    max_age = timedelta(hours=settings.delivery_max_age_hours)
    if now - delivery.created_at >= max_age:
        hours = settings.delivery_max_age_hours
        return _finish(
            delivery, DeliveryStatus.EXPIRED, f"expired: not delivered within {hours:g} h"
        )
    alert = session.get(Alert, delivery.alert_id)
    if (
        delivery.action != DeliveryAction.RESOLVE
        and alert is not None
        and alert.status == AlertStatus.RESOLVED
    ):
        return _finish(delivery, DeliveryStatus.EXPIRED, "expired: alert resolved before delivery")
    if delivery.channel not in CHANNELS:
        return _finish(delivery, DeliveryStatus.FAILED, f"unknown channel {delivery.channel!r}")
    if alert is not None and copies.is_tombstone(delivery.payload):
        # Purge or retention forgot text this payload quoted before it went out: render it
        # again from the alert's (scrubbed) evidence, so the notification still goes out.
        channel = CHANNELS[delivery.channel]
        delivery.payload = channel.build(alert, alert.evidence, delivery.action)
        copies.register_delivery(session, delivery, alert)
    if delivery.channel == "outbox":
        copies.register_file(session, delivery.id, outbox.path_for(delivery.payload, settings))
    delivery.attempts = (delivery.attempts or 0) + 1
    delivery.claimed_until = now + timedelta(seconds=CLAIM_SECONDS)
    session.flush()
    return DeliveryClaim(
        delivery_id=delivery.id,
        channel=delivery.channel,
        payload=delivery.payload,
        claimed_at=now,
        until=delivery.claimed_until,
    )


def send_claimed(claim: DeliveryClaim, settings: Settings) -> int | None:
    """Call the channel; touches no database. Returns the HTTP status (None for the outbox)
    or raises :class:`DeliveryError` with a redacted message."""
    return CHANNELS[claim.channel].send(claim.payload, settings)


def record_outcome(
    session: Session,
    claim: DeliveryClaim,
    settings: Settings,
    now: datetime,
    *,
    status_code: int | None = None,
    error: DeliveryError | None = None,
) -> DeliveryStatus:
    """Store the attempt and the delivery's new status, and release the claim; returns the
    status ("pending" after a transient failure)."""
    delivery = session.scalar(
        select(Delivery)
        .where(Delivery.id == claim.delivery_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if delivery is None:
        raise NotFound(f"delivery {claim.delivery_id} not found")
    if delivery.claimed_until == claim.until:
        delivery.claimed_until = None
    message = redact(error.message, settings) if error is not None else None
    session.add(
        DeliveryAttempt(
            delivery_id=delivery.id,
            attempted_at=claim.claimed_at,
            status_code=error.http_status if error is not None else status_code,
            error=message,
            ok=error is None,
        )
    )
    if delivery.status != DeliveryStatus.PENDING:
        # Our claim ran out and another sender finished it meanwhile: keep its outcome.
        session.flush()
        return delivery.status
    if error is None and _forgotten_while_sent(delivery, claim, settings):
        delivery.last_error = "withdrawn: its text was forgotten while it was written; resent"
        session.flush()
        return DeliveryStatus.PENDING
    if error is None:
        delivery.delivered_at = now
        delivery.last_error = None
        result = _finish(delivery, DeliveryStatus.DELIVERED)
    elif not error.transient:
        delivery.last_error = message
        result = _finish(delivery, DeliveryStatus.FAILED)
    else:
        delivery.last_error = message
        log.info(
            "alert delivery %s (%s) attempt %s will be retried: %s",
            delivery.id,
            delivery.channel,
            delivery.attempts,
            message,
        )
        result = DeliveryStatus.PENDING
    session.flush()
    return result


def _forgotten_while_sent(delivery: Delivery, claim: DeliveryClaim, settings: Settings) -> bool:
    """Purge or retention scrubbed the payload while the channel was being called. What went
    to a remote channel is gone; an outbox file is ours: it is deleted and the delivery stays
    pending, to be rendered again without the text and written anew."""
    if claim.channel != "outbox" or copies.is_tombstone(claim.payload):
        return False
    if not copies.is_tombstone(delivery.payload):
        return False
    copies.remove_file(outbox.path_for(claim.payload, settings))
    return True


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
        .where(
            Delivery.status == DeliveryStatus.PENDING,
            # A claimed delivery is being sent; once the claim runs out (its sender died), it
            # is due again.
            or_(Delivery.claimed_until.is_(None), Delivery.claimed_until <= now),
        )
        .order_by(Delivery.id)
    ).all()
    due: list[int] = []
    for delivery_id, created_at, attempts, last_at in rows:
        since = last_at or created_at
        if now - since >= _sweep_delay(attempts or 0):
            due.append(delivery_id)
    return due
