"""shadow.run: re-run a sampled event on the flagship. shadow.sweep: re-send lost jobs."""

from __future__ import annotations

import logging
import random
from datetime import UTC, datetime

from jobs.celery_app import app
from service import models, queue
from service.config import get_settings
from service.db import session_scope
from service.errors import FlagshipError
from service.ingest.enqueue import decisions_to_resend, enqueue_decisions, events_to_rejudge
from service.llm.base import attempts_of
from service.llm.factory import make_flagship_client
from service.shadow import call_flagship, prepare_shadow, record_failed_run, store_shadow

log = logging.getLogger(__name__)
MAX_TASK_RETRIES = 5


@app.task(
    name="shadow.run",
    bind=True,
    acks_late=True,
    max_retries=MAX_TASK_RETRIES,
    soft_time_limit=600,
    time_limit=660,
)
def run(self, decision_id: int) -> None:  # type: ignore[no-untyped-def]
    settings = get_settings()
    with session_scope() as session:
        decision = session.get(models.SamplingDecision, decision_id)
        if decision is None:
            log.warning("sampling decision not found", extra={"decision_id": decision_id})
            return
        event_pk, replicates = decision.event_pk, decision.replicates
    client = make_flagship_client(settings)
    for replicate in range(replicates):
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
            if exc.transient and self.request.retries < MAX_TASK_RETRIES:
                # The client already retried with backoff; wait longer before the next round.
                countdown = max(exc.retry_after or 0.0, 30.0 * 2**self.request.retries)
                raise self.retry(exc=exc, countdown=countdown * random.uniform(0.8, 1.2)) from exc
            with session_scope() as session:
                record_failed_run(
                    session, event_pk, replicate, str(exc), attempts_of(exc), client=client
                )
            log.warning("shadow run failed", extra={"event_pk": event_pk, "replicate": replicate})
            continue
        with session_scope() as session:
            store_shadow(session, prepared, completion, client, settings)
    queue.send("judge.score", [event_pk])


@app.task(name="shadow.sweep", acks_late=True, soft_time_limit=120, time_limit=150)
def sweep() -> int:
    now = datetime.now(UTC)
    with session_scope() as session:
        ids = decisions_to_resend(session, now)
        unjudged = events_to_rejudge(session, now)
    enqueue_decisions(ids)
    for event_pk in unjudged:
        queue.send("judge.score", [event_pk])
    if ids or unjudged:
        log.info("re-sent lost jobs", extra={"shadow": len(ids), "judge": len(unjudged)})
    return len(ids) + len(unjudged)
