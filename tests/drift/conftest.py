"""Shared fixtures for the drift tests: a SQLite file database and row builders."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import Engine, insert
from sqlalchemy.orm import Session, sessionmaker

from shadowgap.config import Settings
from shadowgap.db.engine import make_engine
from shadowgap.db.models import Base, Segment, TrafficEvent, Verdict

T0 = datetime(2025, 1, 6, tzinfo=UTC)


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'drift.db'}"


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    Base.metadata.create_all(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


@pytest.fixture
def settings(db_url: str) -> Settings:
    return Settings(
        database_url=db_url,
        false_alarms_per_week=1.0,
        resolve_after_samples=50,
    )


def add_segments(session: Session, keys: list[str]) -> list[int]:
    ids = []
    for key in keys:
        segment = Segment(key=key, dimensions={"tenant": key})
        session.add(segment)
        session.flush()
        ids.append(segment.id)
    return ids


def event_row(n: int, segment_id: int, **overrides: Any) -> dict[str, Any]:
    """A complete ``traffic_events`` row; ``overrides`` set the signal columns."""
    row: dict[str, Any] = {
        "event_id": f"evt-{n}",
        "segment_id": segment_id,
        "source_format": "native",
        "occurred_at": T0 + timedelta(seconds=n),
        "route_tier": "cheap",
        "route_model": "small-model",
        "is_cheap": True,
        "request": {"messages": [{"role": "user", "content": "q"}]},
        "prompt_hash": f"{n:064x}",
        "latency_ms": 100.0,
        "cost_usd": 0.001,
        "status": "ok",
        "refused": False,
        "escalated": False,
        "attributes": {},
    }
    row.update(overrides)
    return row


def insert_events(session: Session, rows: list[dict[str, Any]]) -> None:
    if rows:
        session.execute(insert(TrafficEvent), rows)


def interleaved_events(
    segment_ids: list[int],
    n_per_segment: int,
    cheap_rate: Callable[[int, int], float],
    seed: int,
    start: int = 0,
) -> list[dict[str, Any]]:
    """Events of several segments in round-robin order; ``cheap_rate(segment, i)`` per event."""
    rng = random.Random(seed)
    rows = []
    n = start
    for i in range(n_per_segment):
        for segment_id in segment_ids:
            rows.append(
                event_row(
                    n,
                    segment_id,
                    is_cheap=rng.random() < cheap_rate(segment_id, i),
                    latency_ms=rng.lognormvariate(5.0, 0.3),
                    cost_usd=0.001 + 0.0001 * rng.random(),
                )
            )
            n += 1
    return rows


def insert_verdicts(
    session: Session,
    segment_id: int,
    event_pks: list[int],
    win_rate: float,
    seed: int,
    kind: str = "gap",
    probability: float = 0.1,
) -> None:
    rng = random.Random(seed)
    session.execute(
        insert(Verdict),
        [
            {
                "event_pk": pk,
                "segment_id": segment_id,
                "kind": kind,
                "judge": "answer-match",
                "winner": "flagship" if rng.random() < win_rate else "tie",
                "gap_score": 0.0,
                "inclusion_probability": probability,
                "raw": {},
            }
            for pk in event_pks
        ],
    )


def add_events(
    session: Session,
    segment_ids: list[int],
    n_per_segment: int,
    cheap_rate: float | Callable[[int, int], float],
    seed: int,
    start: int = 0,
) -> None:
    """Insert :func:`interleaved_events`; a constant ``cheap_rate`` for every row, or a
    function of (segment, row)."""
    rate = cheap_rate if callable(cheap_rate) else (lambda s, i: float(cheap_rate))
    insert_events(session, interleaved_events(segment_ids, n_per_segment, rate, seed, start))


@pytest.fixture
def rows() -> SimpleNamespace:
    """The row builders above, as a fixture (test modules do not import conftest)."""
    return SimpleNamespace(
        add_segments=add_segments,
        add_events=add_events,
        event_row=event_row,
        insert_events=insert_events,
        interleaved_events=interleaved_events,
        insert_verdicts=insert_verdicts,
    )
