"""The outbox of shadow jobs: sampled decisions are sent to the broker after their
transaction commits, and marked so that the sweep re-sends only what was not handed over."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import exists, func, or_, select, update
from sqlalchemy.orm import Session

from shadowgap.db import models
from shadowgap.db.engine import session_scope
from shadowgap.enums import RunStatus, VerdictKind
from shadowgap.worker import queue

# A decision whose hand-over to the broker failed (no enqueued_at) is sent again after this;
# the delay keeps the sweep from racing the ingest request's own after-commit send.
UNSENT_AFTER = timedelta(seconds=30)


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


@dataclass(frozen=True)
class Resend:
    """What the sweep should send again: decisions never handed to the broker, and decisions
    handed over but lost (see :func:`decisions_to_resend`)."""

    unsent: list[int]
    lost: list[int]


def decisions_to_resend(
    session: Session, now: datetime, lost_after: timedelta, limit: int = 1000
) -> Resend:
    """Decisions never handed to the broker, and decisions handed over more than
    ``lost_after`` ago that still miss a run (the broker restarted empty, or a worker was
    killed between replicates) and that no running job holds (its claim has not run out).

    Re-sending is always safe: a duplicate message finds the claim or the stored runs and
    never calls the flagship twice.
    """
    decision = models.SamplingDecision
    runs = (
        select(func.count())
        .where(models.ShadowRun.event_pk == decision.event_pk)
        .correlate(decision)
        .scalar_subquery()
    )
    unclaimed = or_(decision.claimed_until.is_(None), decision.claimed_until <= now)
    unsent = session.scalars(
        select(decision.id)
        .where(decision.enqueued_at.is_(None), decision.decided_at < now - UNSENT_AFTER, unclaimed)
        .order_by(decision.id)
        .limit(limit)
    ).all()
    lost = session.scalars(
        select(decision.id)
        .where(decision.enqueued_at < now - lost_after, runs < decision.replicates, unclaimed)
        .order_by(decision.id)
        .limit(limit)
    ).all()
    return Resend(unsent=list(unsent), lost=list(lost))


def events_to_rejudge(
    session: Session, now: datetime, lost_after: timedelta, limit: int = 1000
) -> list[int]:
    """Events whose flagship run succeeded long ago but that have no verdict: the worker died
    between storing the run and sending judge.score. judge.score is idempotent."""
    event, run, verdict = models.TrafficEvent, models.ShadowRun, models.Verdict
    judged = exists().where(verdict.event_pk == run.event_pk, verdict.kind == VerdictKind.GAP)
    rows = session.execute(
        select(run.event_pk)
        .join(event, event.id == run.event_pk)
        .where(
            run.replicate == 0,
            run.status == RunStatus.OK,
            run.created_at < now - lost_after,
            event.answer.is_not(None),
            ~judged,
        )
        .order_by(run.event_pk)
        .limit(limit)
    )
    return list(rows.scalars())
