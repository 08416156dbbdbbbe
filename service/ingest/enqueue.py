"""The outbox of shadow jobs: sampled decisions are sent to the broker after their
transaction commits, and marked so that the sweep re-sends only what was not handed over."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import exists, select, update
from sqlalchemy.orm import Session

from service import models, queue
from service.db import session_scope

# A job handed to the broker but with no run after this long was lost (Redis restarted
# without persistence, a queue purged): send it again. Jobs are idempotent.
LOST_AFTER = timedelta(minutes=15)


def enqueue_decisions(decision_ids: list[int]) -> None:
    if not decision_ids:
        return
    sent: list[int] = []
    try:
        for decision_id in decision_ids:
            queue.send("shadow.run", [decision_id])
            sent.append(decision_id)
    finally:
        if sent:
            with session_scope() as session:
                mark_enqueued(session, sent, datetime.now(UTC))


def mark_enqueued(session: Session, decision_ids: list[int], now: datetime) -> None:
    session.execute(
        update(models.SamplingDecision)
        .where(models.SamplingDecision.id.in_(decision_ids))
        .values(enqueued_at=now)
    )


def decisions_to_resend(session: Session, now: datetime, limit: int = 1000) -> list[int]:
    """Decisions never handed to the broker, or handed over long ago with no run since."""
    decision = models.SamplingDecision
    has_run = exists().where(models.ShadowRun.event_pk == decision.event_pk)
    stale = (
        decision.enqueued_at.is_(None) & (decision.decided_at < now - timedelta(seconds=30))
    ) | ((decision.enqueued_at < now - LOST_AFTER) & ~has_run)
    rows = session.execute(select(decision.id).where(stale).order_by(decision.id).limit(limit))
    return list(rows.scalars())
