"""Redeliveries never change any signal.

Senders retry whole batches (LiteLLM, every webhook sender), so a batch of already stored
events arrives again. The traffic-share signal reads gaps between event ids as other traffic,
so an id taken by a skipped duplicate, or by a rolled-back transaction, is phantom traffic
for every segment. Two databases see the same traffic, one with a redelivery of everything
stored in between: the detector states and drift events must be identical.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from shadowgap.config import get_settings
from shadowgap.db import models
from shadowgap.db.engine import session_scope
from shadowgap.drift import update_segment
from shadowgap.ingest.store import IngestRequest, clear_caches, store_requests
from shadowgap.schemas import TrafficEvent
from tests.support.factories import native_event
from tests.support.settings import POSTGRES_SERVER, auth, migrate

TENANTS = ("acme", "globex", "initech", "umbrella")
START = datetime(2026, 11, 2, tzinfo=UTC)


def _events(first: int, count: int) -> list[dict[str, Any]]:
    return [
        native_event(
            f"e-{i}",
            row=i,
            tenant=TENANTS[i % len(TENANTS)],
            at=START + timedelta(seconds=i),
        )
        for i in range(first, first + count)
    ]


def _post(client: TestClient, events: list[dict[str, Any]]) -> dict[str, int]:
    totals = {"new": 0, "duplicates": 0}
    for start in range(0, len(events), 500):
        response = client.post("/v1/events", json=events[start : start + 500], headers=auth())
        assert response.status_code == 200, response.text
        for key in totals:
            totals[key] += response.json()[key]
    return totals


def _update_drift() -> None:
    with session_scope() as session:
        segment_ids = list(session.scalars(select(models.Segment.id).order_by(models.Segment.id)))
    for segment_id in segment_ids:
        with session_scope() as session:
            update_segment(session, segment_id, get_settings())


def _outcome() -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[int]]:
    with session_scope() as session:
        states = session.execute(
            select(
                models.Segment.key,
                models.DetectorState.signal,
                models.DetectorState.watermark,
                models.DetectorState.n_updates,
                models.DetectorState.state,
            )
            .join(models.Segment, models.Segment.id == models.DetectorState.segment_id)
            .order_by(models.Segment.key, models.DetectorState.signal)
        ).all()
        drift = session.execute(
            select(models.Segment.key, models.DriftEvent.signal, models.DriftEvent.at_event_pk)
            .join(models.Segment, models.Segment.id == models.DriftEvent.segment_id)
            .order_by(models.DriftEvent.id)
        ).all()
        ids = list(session.scalars(select(models.TrafficEvent.id).order_by(models.TrafficEvent.id)))
    return [tuple(row) for row in states], [tuple(row) for row in drift], ids


def _last_arrivals() -> dict[str, Any]:
    with session_scope() as session:
        rows = session.execute(select(models.Segment.key, models.Segment.last_seen_at)).all()
    return dict(rows)


def _run(client: TestClient, *, redeliver: bool) -> tuple[Any, ...]:
    assert _post(client, _events(0, 2000))["new"] == 2000
    _update_drift()
    if redeliver:
        arrivals = _last_arrivals()
        assert _post(client, _events(0, 2000)) == {"new": 0, "duplicates": 2000}
        # The no-data alert reads the last arrival: retried old batches are not new traffic.
        assert _last_arrivals() == arrivals
    assert _post(client, _events(2000, 1000))["new"] == 1000
    _update_drift()
    return _outcome()


@pytest.fixture
def second_postgres_url() -> Iterator[str]:
    name = f"shadowgap_t_{uuid.uuid4().hex[:12]}"
    admin_dsn = POSTGRES_SERVER.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin_dsn, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    yield f"{POSTGRES_SERVER.rsplit('/', 1)[0]}/{name}"
    from shadowgap.db.engine import reset_caches

    reset_caches()
    with psycopg.connect(admin_dsn, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_redelivery_changes_no_signal_on_postgres(
    production: str,
    second_postgres_url: str,
    configure: Callable[..., None],
    client: TestClient,
) -> None:
    plain_states, plain_drift, plain_ids = _run(client, redeliver=False)

    configure(database_url=second_postgres_url)
    migrate(second_postgres_url)
    states, drift, ids = _run(client, redeliver=True)

    assert drift == plain_drift == []
    traffic_share = [row for row in states if row[1] == "traffic_share"]
    assert len(traffic_share) == len(TENANTS)
    assert states == plain_states
    assert ids == plain_ids == list(range(1, 3001)), "event ids must have no gaps"


def _traffic_share() -> list[tuple[Any, ...]]:
    with session_scope() as session:
        rows = session.execute(
            select(
                models.Segment.key, models.DetectorState.n_updates, models.DetectorState.estimate
            )
            .join(models.Segment, models.Segment.id == models.DetectorState.segment_id)
            .where(models.DetectorState.signal == "traffic_share")
            .order_by(models.Segment.key)
        ).all()
    return [tuple(row) for row in rows]


def test_rolled_back_transaction_is_no_traffic(
    production: str,
    second_postgres_url: str,
    configure: Callable[..., None],
    client: TestClient,
) -> None:
    """A transaction that took ids and rolled back (here: a failed group) leaves a hole in
    the ids; the traffic share must not read it as other traffic. Same traffic into two
    databases, one with a rolled-back batch in between: the same share estimates."""

    def run(roll_back: bool) -> list[tuple[Any, ...]]:
        assert _post(client, _events(0, 1000))["new"] == 1000
        _update_drift()
        if roll_back:
            with session_scope() as session:
                batch = [TrafficEvent.model_validate(e) for e in _events(5000, 300)]
                store_requests(session, [IngestRequest(batch, "native")], get_settings(), START)
                session.rollback()
            clear_caches()
        assert _post(client, _events(1000, 1000))["new"] == 1000
        _update_drift()
        return _traffic_share()

    plain = run(roll_back=False)
    configure(database_url=second_postgres_url)
    migrate(second_postgres_url)
    with_hole = run(roll_back=True)
    with session_scope() as session:
        ids = list(session.scalars(select(models.TrafficEvent.id).order_by(models.TrafficEvent.id)))
        holes = session.execute(
            select(models.TrafficEventHole.first_id, models.TrafficEventHole.last_id)
        ).all()
    assert ids == [*range(1, 1001), *range(1301, 2301)], "the rolled-back batch took 300 ids"
    assert [tuple(h) for h in holes] == [(1001, 1300)]
    assert len(plain) == len(TENANTS)
    assert with_hole == plain
