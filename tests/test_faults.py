"""Faults lose nothing: a worker killed mid-stream, then Redis restarted empty (it keeps
nothing on disk here), on PostgreSQL + Redis with real workers. Every sampled event still
ends with exactly one run per replicate and one verdict, via the outbox sweep."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import redis
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from service import models, queue
from service.db import session_scope
from service.ingest.enqueue import decisions_to_resend, enqueue_decisions, events_to_rejudge
from tests.conftest import auth, wait_for
from tests.factories import native_event


def _runs() -> int:
    with session_scope() as session:
        return session.execute(select(func.count()).select_from(models.ShadowRun)).scalar_one()


def test_killed_worker_and_emptied_redis_lose_nothing(
    production: str, redis_url: str, configure, client: TestClient, start_worker
) -> None:
    configure(sampling_budget_fraction=1.0, sampling_warmup_events=0, noise_floor_fraction=0.3)
    events = [native_event(f"f-{i}", row=i) for i in range(40)]
    assert client.post("/v1/events", json=events, headers=auth()).json()["sampled"] == 40

    worker = start_worker()
    wait_for(lambda: _runs() >= 3, timeout=60)
    worker.kill()  # SIGKILL mid-stream: whatever it held unacknowledged is stranded
    redis.Redis.from_url(redis_url).flushdb()  # the broker restarts with nothing
    done_before_restart = _runs()

    # The sweep re-sends every decision that has been handed over but has no run.
    later = datetime.now(UTC) + timedelta(hours=1)
    with session_scope() as session:
        lost = decisions_to_resend(session, later)
        unjudged = events_to_rejudge(session, later)
    assert lost, "the kill and the flush should have stranded some jobs"
    enqueue_decisions(lost)
    for event_pk in unjudged:
        queue.send("judge.score", [event_pk])
    start_worker()

    with session_scope() as session:
        wanted = session.execute(select(func.sum(models.SamplingDecision.replicates))).scalar_one()

    def settled() -> bool:
        with session_scope() as session:
            gap = session.execute(
                select(func.count()).select_from(models.Verdict).where(models.Verdict.kind == "gap")
            ).scalar_one()
        return _runs() == wanted and gap == 40

    wait_for(settled, timeout=180)
    time.sleep(2)  # any duplicate delivery would land now
    with session_scope() as session:
        duplicates = session.execute(
            select(models.ShadowRun.event_pk, models.ShadowRun.replicate, func.count())
            .group_by(models.ShadowRun.event_pk, models.ShadowRun.replicate)
            .having(func.count() > 1)
        ).all()
        ok = session.execute(
            select(func.count())
            .select_from(models.ShadowRun)
            .where(models.ShadowRun.status == "ok")
        ).scalar_one()
    assert duplicates == []
    assert ok == wanted
    assert done_before_restart < wanted
