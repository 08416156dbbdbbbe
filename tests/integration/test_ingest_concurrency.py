"""Concurrent ingest writers on PostgreSQL never wait for each other, and nothing is lost.

Each test opens real transactions on separate connections (as two API processes do). Ingest
used to number events under one advisory lock and to update its segments' counter rows, both
held until commit: a second writer waited for the first one's commit. Now a writer holding its
transaction open must not delay another writing the same segments, and the readers (the
detectors' id watermarks, the segment counters) must still count every event exactly once,
including the ids the open transaction took before the other's.
"""

from __future__ import annotations

import random
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from shadowgap.config import get_settings
from shadowgap.db import event_horizon, models, segment_counts
from shadowgap.db.engine import get_sessionmaker, session_scope
from shadowgap.drift import update_segment
from shadowgap.ingest.store import IngestRequest, clear_caches, store_requests
from shadowgap.schemas import TrafficEvent
from tests.support.factories import native_event

TENANTS = ("acme", "globex", "initech")
START = datetime(2026, 11, 2, tzinfo=UTC)
WAITS = text(
    "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database "
    "WHERE NOT l.granted AND d.datname = current_database()"
)
# Generous: a writer that waited for the other's commit would wait for as long as the test
# holds that transaction open (the whole wait below), far longer than this.
NO_WAIT_SECONDS = 20.0


def _batch(prefix: str, count: int, first: int = 0) -> list[TrafficEvent]:
    return [
        TrafficEvent.model_validate(
            native_event(
                f"{prefix}-{i}",
                row=i,
                tenant=TENANTS[i % len(TENANTS)],
                tier="cheap" if i % 3 else "flagship",
                at=START + timedelta(seconds=i),
            )
        )
        for i in range(first, first + count)
    ]


def _store(session: Session, events: list[TrafficEvent]) -> int:
    _, group = store_requests(
        session, [IngestRequest(events, "native")], get_settings(), datetime.now(UTC)
    )
    return group.new


def _fold_and_update() -> None:
    with session_scope() as session:
        segment_counts.fold(session)
    with session_scope() as session:
        segment_ids = list(session.scalars(select(models.Segment.id).order_by(models.Segment.id)))
    for segment_id in segment_ids:
        with session_scope() as session:
            update_segment(session, segment_id, get_settings())


def _counted() -> dict[str, dict[str, Any]]:
    """Per segment: stored events, the counter, all traffic between its first and latest
    event, and what each event signal's detector saw."""
    with session_scope() as session:
        stored = dict(
            session.execute(
                select(models.Segment.key, func.count(models.TrafficEvent.id))
                .join(models.TrafficEvent, models.TrafficEvent.segment_id == models.Segment.id)
                .group_by(models.Segment.key)
            ).all()
        )
        counters = dict(
            session.execute(select(models.Segment.key, models.Segment.event_count)).all()
        )
        fed = session.execute(
            select(models.Segment.key, models.DetectorState.signal, models.DetectorState.n_updates)
            .join(models.Segment, models.Segment.id == models.DetectorState.segment_id)
            .where(models.DetectorState.signal.in_(["routing_share", "traffic_share"]))
        ).all()
        # The traffic share is fed one sample per event of all traffic from the segment's
        # first event to its latest: holes in the ids are no traffic.
        event = models.TrafficEvent
        traffic = {
            key: session.scalar(select(func.count()).where(event.id.between(first, last)))
            for key, first, last in session.execute(
                select(models.Segment.key, func.min(event.id), func.max(event.id))
                .join(event, event.segment_id == models.Segment.id)
                .group_by(models.Segment.key)
            ).all()
        }
    out: dict[str, dict[str, Any]] = {
        key: {"stored": n, "counter": counters[key], "traffic": traffic[key]}
        for key, n in stored.items()
    }
    for key, signal, n in fed:
        out[key][signal] = n
    return out


def test_open_writer_does_not_hold_up_another(production: str) -> None:
    clear_caches()
    with session_scope() as session:  # the segments exist: creating one is a real conflict
        _store(session, _batch("seed", 30))
    _fold_and_update()

    factory = get_sessionmaker()
    first = factory()
    try:
        assert _store(first, _batch("first", 300)) == 300  # ids taken, not committed
        done = threading.Event()
        errors: list[BaseException] = []

        def second_writer() -> None:
            try:
                with session_scope() as session:
                    session.execute(text(f"SET LOCAL lock_timeout = '{int(NO_WAIT_SECONDS)}s'"))
                    assert _store(session, _batch("second", 300)) == 300
            except BaseException as exc:  # noqa: BLE001 - re-raised by the test
                errors.append(exc)
            finally:
                done.set()

        thread = threading.Thread(target=second_writer)
        started = time.monotonic()
        thread.start()
        waits = []
        with session_scope() as probe:
            while not done.wait(0.01):
                waits.append(probe.scalar(WAITS))
        thread.join()
        assert errors == []
        assert time.monotonic() - started < NO_WAIT_SECONDS
        assert not any(waits), "the second writer waited on a lock"

        # The second writer's ids are above the open one's: the detectors must not pass them.
        _fold_and_update()
        with session_scope() as session:
            first_ids = [
                int(i)
                for i in first.scalars(
                    select(models.TrafficEvent.id).where(
                        models.TrafficEvent.event_id.like("first-%")
                    )
                )
            ]
            assert event_horizon.safe_id(session) < min(first_ids)
        seen = _counted()
        assert sum(v["stored"] for v in seen.values()) == 30 + 300  # the open batch is unseen
        # Nothing past the open batch's ids was read: the seed only, so far.
        assert sum(v["routing_share"] for v in seen.values()) == 30
        first.commit()
    finally:
        first.close()

    _fold_and_update()
    seen = _counted()
    assert sum(v["stored"] for v in seen.values()) == 630
    for key, v in seen.items():
        assert v["counter"] == v["stored"], key
        assert v["routing_share"] == v["stored"], key
        assert v["traffic_share"] == v["traffic"], key


def test_many_writers_and_readers_count_every_event_once(production: str) -> None:
    """Writers on four connections (some batches rolled back, some redelivered) while the
    detectors and the counter fold run: afterwards every stored event was counted once."""
    clear_caches()
    rounds, size = 12, 40
    errors: list[BaseException] = []
    stop = threading.Event()

    def writer(name: str, seed: int) -> None:
        rng = random.Random(seed)
        try:
            for round_ in range(rounds):
                batch = _batch(f"{name}-{round_}", size)
                if rng.random() < 0.3:  # a sender's retry of an earlier batch rides along
                    batch += _batch(f"{name}-{max(round_ - 1, 0)}", size // 4)
                with session_scope() as session:
                    _store(session, batch)
                    if rng.random() < 0.2:
                        session.rollback()  # a failed group: its ids become holes
        except BaseException as exc:  # noqa: BLE001 - re-raised by the test
            errors.append(exc)

    def reader() -> None:
        try:
            while not stop.is_set():
                _fold_and_update()
        except BaseException as exc:  # noqa: BLE001 - re-raised by the test
            errors.append(exc)

    with session_scope() as session:
        _store(session, _batch("seed", 30))
    threads = [threading.Thread(target=writer, args=(f"w{i}", i)) for i in range(4)]
    watcher = threading.Thread(target=reader)
    watcher.start()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    stop.set()
    watcher.join(timeout=300)
    assert errors == []
    _fold_and_update()

    seen = _counted()
    with session_scope() as session:
        total = session.scalar(select(func.count()).select_from(models.TrafficEvent))
        holes = session.scalar(select(func.count()).select_from(models.TrafficEventHole))
        pending = session.scalar(select(func.count()).select_from(models.SegmentCountDelta))
    assert sum(v["stored"] for v in seen.values()) == total
    assert pending == 0
    for key, v in seen.items():
        assert v["counter"] == v["stored"], key
        assert v["routing_share"] == v["stored"], key
        assert v["traffic_share"] == v["traffic"], key
    assert holes > 0, "no batch was rolled back: the holes went untested"
