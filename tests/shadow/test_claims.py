"""The sweep and redeliveries never pay the flagship twice: a shadow job claims its sampled
event before calling the flagship (PostgreSQL + Redis, real workers, a counting flagship)."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import redis
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from shadowgap.db import models
from shadowgap.db.engine import get_sessionmaker, session_scope
from shadowgap.shadow.enqueue import decisions_to_resend, mark_enqueued
from shadowgap.shadow.runs import claim_decision, release_decision
from shadowgap.worker import queue
from tests.support.factories import native_event
from tests.support.flagship_stub import CountingFlagship
from tests.support.processes import wait_for
from tests.support.settings import auth

LEASE = timedelta(minutes=11)


def _all_handed_over() -> bool:
    with session_scope() as session:
        return not session.scalar(
            select(func.count())
            .select_from(models.SamplingDecision)
            .where(models.SamplingDecision.enqueued_at.is_(None))
        )


def _decision_ids() -> list[int]:
    with session_scope() as session:
        return list(session.scalars(select(models.SamplingDecision.id).order_by("id")))


def test_claims_are_exclusive_and_run_out(production: str, configure, client: TestClient) -> None:
    configure(sampling_budget_fraction=1.0, sampling_warmup_events=0)
    client.post("/v1/events", json=[native_event("c-1")], headers=auth())
    (decision_id,) = _decision_ids()
    now = datetime.now(UTC)

    # A holds the row (not yet committed); B's claim waits for A's commit, then finds it held.
    first = get_sessionmaker()()
    claim = claim_decision(first, decision_id, now, LEASE)
    assert claim is not None
    results: list[object] = []

    def second() -> None:
        with session_scope() as session:
            results.append(claim_decision(session, decision_id, now, LEASE))

    racer = threading.Thread(target=second)
    racer.start()
    time.sleep(0.5)  # B is now blocked on A's row lock
    first.commit()
    first.close()
    racer.join(timeout=30)
    assert results == [None]

    with session_scope() as session:
        mark_enqueued(session, [decision_id], now - timedelta(hours=1))
    with session_scope() as session:
        # Held: not lost, even long after it was handed to the broker.
        assert decisions_to_resend(session, now, timedelta(minutes=2)).lost == []
        later = now + LEASE + timedelta(seconds=1)
        # The holder died: its claim runs out, the sweep sends it again, a new job takes it.
        assert decisions_to_resend(session, later, timedelta(minutes=2)).lost == [decision_id]
        retaken = claim_decision(session, decision_id, later, LEASE)
        assert retaken is not None
    with session_scope() as session:
        release_decision(session, claim)  # the old holder's late release changes nothing
    with session_scope() as session:
        assert claim_decision(session, decision_id, later, LEASE) is None
        release_decision(session, retaken)
    with session_scope() as session:
        assert claim_decision(session, decision_id, later, LEASE) is not None


def test_duplicate_jobs_call_the_flagship_once(
    production: str, redis_url: str, configure, client: TestClient, start_worker
) -> None:
    flagship = CountingFlagship(delay=3.0)
    calls = flagship.calls
    try:
        configure(
            sampling_budget_fraction=1.0,
            sampling_warmup_events=0,
            noise_floor_fraction=0.0,
            **flagship.settings(),
        )
        events = [native_event(f"d-{i}", row=i) for i in range(6)]
        assert client.post("/v1/events", json=events, headers=auth()).json()["sampled"] == 6
        ids = _decision_ids()
        # A backlog older than the old 15-minute threshold: every job is in the queue twice,
        # and the two copies sit next to each other, so two workers take them at once.
        wait_for(_all_handed_over, timeout=30)  # the API's own after-commit sends are done
        redis.Redis.from_url(redis_url).flushdb()
        start_worker("shadow")
        start_worker("shadow")
        for decision_id in ids:
            queue.send("shadow.run", [decision_id])
            queue.send("shadow.run", [decision_id])

        def runs() -> int:
            with session_scope() as session:
                return session.scalar(select(func.count()).select_from(models.ShadowRun)) or 0

        wait_for(lambda: runs() == 6, timeout=180)
        wait_for(lambda: redis.Redis.from_url(redis_url).llen("shadow") == 0, timeout=60)
        time.sleep(3)  # a duplicate in flight would call now
    finally:
        flagship.close()
    assert sum(calls.values()) == 6 and set(calls.values()) == {1}, calls
    with session_scope() as session:
        booked = session.scalar(select(func.sum(models.CostLedger.calls)))
    assert booked == 6
