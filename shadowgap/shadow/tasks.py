"""shadow.run: re-run a sampled event on the flagship. shadow.sweep: re-send lost jobs."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from shadowgap.config import get_settings
from shadowgap.db import models
from shadowgap.db.engine import session_scope
from shadowgap.errors import FlagshipError
from shadowgap.llm.base import attempts_of
from shadowgap.llm.factory import make_flagship_client
from shadowgap.shadow.enqueue import decisions_to_resend, enqueue_decisions, events_to_rejudge
from shadowgap.shadow.runs import (
    DecisionClaim,
    call_flagship,
    claim_decision,
    prepare_shadow,
    record_failed_run,
    release_decision,
    store_shadow,
)
from shadowgap.worker import queue
from shadowgap.worker.app import app
from shadowgap.worker.retries import MODEL_CALLS

log = logging.getLogger(__name__)
# The hard limit leaves the soft one's handler time to release the claim; the claim outlives
# the hard limit, so it never runs out while the job may still call the flagship.
HARD_LIMIT_MARGIN_SECONDS = 30.0
CLAIM_MARGIN_SECONDS = 60.0
_timeout = get_settings().shadow_job_timeout_seconds


def claim_lease(timeout: float) -> timedelta:
    return timedelta(seconds=timeout + CLAIM_MARGIN_SECONDS)


@app.task(
    name="shadow.run",
    **MODEL_CALLS.task_options(
        soft_time_limit=_timeout, time_limit=_timeout + HARD_LIMIT_MARGIN_SECONDS
    ),
)
def run(self, decision_id: int) -> None:  # type: ignore[no-untyped-def]
    settings = get_settings()
    # Raises FlagshipNotConfigured before anything is claimed (workers without a flagship do
    # not consume this queue, see shadowgap.worker.steps); the decision then stays for the sweep.
    client = make_flagship_client(settings)
    with session_scope() as session:
        claim = claim_decision(
            session,
            decision_id,
            datetime.now(UTC),
            claim_lease(settings.shadow_job_timeout_seconds),
        )
    if claim is None:
        # Another job holds it (a duplicate message), or the decision is gone.
        log.info("sampling decision held elsewhere or gone", extra={"decision_id": decision_id})
        return
    try:
        _run_claimed(self, claim, client, settings)
    finally:
        # A retry, a failure or success: the next holder (if any) need not wait for the lease.
        with session_scope() as session:
            release_decision(session, claim)
    queue.send("judge.score", [claim.event_pk])


def _run_claimed(task, claim: DecisionClaim, client, settings) -> None:  # type: ignore[no-untyped-def]
    event_pk = claim.event_pk
    for replicate in range(claim.replicates):
        # Read, call, store: the flagship call holds no transaction (on SQLite a transaction
        # is the database's write lock), and each replicate commits on its own, so a retry of
        # replicate 1 keeps replicate 0's run.
        with session_scope() as session:
            prepared = prepare_shadow(session, event_pk, replicate, settings)
        if isinstance(prepared, models.ShadowRun):
            continue
        try:
            completion = call_flagship(prepared, client)
        except FlagshipError as exc:
            # The client already retried with backoff; wait longer before the next round.
            MODEL_CALLS.retry_transient(task, exc)
            with session_scope() as session:
                record_failed_run(
                    session, event_pk, replicate, str(exc), attempts_of(exc), client=client
                )
            log.warning("shadow run failed", extra={"event_pk": event_pk, "replicate": replicate})
            continue
        with session_scope() as session:
            store_shadow(session, prepared, completion, client, settings)


@app.task(name="shadow.sweep", acks_late=True, soft_time_limit=120, time_limit=150)
def sweep() -> int:
    """Re-send what the broker lost. Jobs that are merely waiting in a backlog are left alone:
    lost ones are re-sent only while the queue holds fewer messages than there are jobs
    missing, so a long backlog is not duplicated sweep after sweep (and a duplicate would
    find the claim or the stored runs anyway)."""
    settings = get_settings()
    now = datetime.now(UTC)
    lost_after = timedelta(seconds=settings.job_lost_after_seconds)
    with session_scope() as session:
        resend = decisions_to_resend(session, now, lost_after)
        unjudged = events_to_rejudge(session, now, lost_after)
    depths = _queue_depths() if resend.lost or unjudged else {}
    lost = resend.lost if depths.get("shadow", 0) < len(resend.lost) else []
    rejudge = unjudged if depths.get("judge", 0) < len(unjudged) else []
    enqueue_decisions(resend.unsent + lost)
    for event_pk in rejudge:
        queue.send("judge.score", [event_pk])
    if resend.unsent or lost or rejudge:
        log.info(
            "re-sent lost jobs",
            extra={"unsent": len(resend.unsent), "shadow": len(lost), "judge": len(rejudge)},
        )
    return len(resend.unsent) + len(lost) + len(rejudge)


def _queue_depths() -> dict[str, int]:
    try:
        return queue.queue_depths()
    except Exception as exc:  # noqa: BLE001 - unknown depth: re-send, claims prevent double calls
        log.warning("queue depths unavailable", extra={"error": type(exc).__name__})
        return {}
