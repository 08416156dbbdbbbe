"""The outbox of shadow jobs: sampled decisions are sent to the broker after their
transaction commits, and marked so that the sweep re-sends only what was not handed over."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import exists, func, select, update
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
    """Decisions never handed to the broker, or handed over long ago and still missing a run
    (a worker killed between replicates leaves one run of two)."""
    decision = models.SamplingDecision
    runs = (
        select(func.count())
        .where(models.ShadowRun.event_pk == decision.event_pk)
        .correlate(decision)
        .scalar_subquery()
    )
    stale = (
        decision.enqueued_at.is_(None) & (decision.decided_at < now - timedelta(seconds=30))
    ) | ((decision.enqueued_at < now - LOST_AFTER) & (runs < decision.replicates))
    rows = session.execute(select(decision.id).where(stale).order_by(decision.id).limit(limit))
    return list(rows.scalars())


def events_to_rejudge(session: Session, now: datetime, limit: int = 1000) -> list[int]:
    """Events whose flagship run succeeded long ago but that have no verdict: the worker died
    between storing the run and sending judge.score. judge.score is idempotent."""
    event, run, verdict = models.TrafficEvent, models.ShadowRun, models.Verdict
    judged = exists().where(verdict.event_pk == run.event_pk, verdict.kind == "gap")
    rows = session.execute(
        select(run.event_pk)
        .join(event, event.id == run.event_pk)
        .where(
            run.replicate == 0,
            run.status == "ok",
            run.created_at < now - LOST_AFTER,
            event.answer.is_not(None),
            ~judged,
        )
        .order_by(run.event_pk)
        .limit(limit)
    )
    return list(rows.scalars())
