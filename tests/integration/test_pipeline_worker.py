"""The job chain with a real Celery worker: ingest -> shadow.run -> judge.score -> verdict,
on the embedded default (SQLite + kombu's SQLAlchemy transport) and on PostgreSQL + Redis."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from shadowgap.db import models
from shadowgap.db.engine import session_scope
from tests.support.factories import native_event
from tests.support.processes import wait_for
from tests.support.settings import auth


def _counts() -> tuple[int, int, int]:
    with session_scope() as session:

        def n(model: type) -> int:
            return session.execute(select(func.count()).select_from(model)).scalar_one()

        gap = session.execute(
            select(func.count()).select_from(models.Verdict).where(models.Verdict.kind == "gap")
        ).scalar_one()
        return n(models.SamplingDecision), n(models.ShadowRun), gap


def test_sampled_event_flows_to_a_verdict(
    any_db: str, configure, client: TestClient, start_worker
) -> None:
    configure(sampling_budget_fraction=1.0, sampling_warmup_events=0, noise_floor_fraction=0.5)
    start_worker()
    events = [native_event(f"p-{i}", row=i) for i in range(6)]
    result = client.post("/v1/events", json=events, headers=auth()).json()
    assert result["sampled"] == 6

    with session_scope() as session:
        expected_runs = session.execute(
            select(func.sum(models.SamplingDecision.replicates))
        ).scalar_one()
    wait_for(lambda: _counts()[1] == expected_runs and _counts()[2] >= 6, timeout=120)

    with session_scope() as session:
        runs = session.execute(select(models.ShadowRun)).scalars().all()
        assert all(run.status == "ok" and run.answer for run in runs)
        assert all(run.client == "recorded" for run in runs)
        verdicts = (
            session.execute(select(models.Verdict).where(models.Verdict.kind == "gap"))
            .scalars()
            .all()
        )
        assert len(verdicts) == 6
        assert {v.winner for v in verdicts} <= {"flagship", "cheap", "tie"}
        assert all(v.inclusion_probability == 1.0 for v in verdicts)
        decisions = session.execute(select(models.SamplingDecision)).scalars().all()
        assert all(d.enqueued_at is not None for d in decisions)
