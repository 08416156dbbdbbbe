"""Round trips to PostgreSQL per ingest group, pinned: the group writer's fixed cost per group
is its round trips (each 60-130 us of CPU on both sides), so a change that adds one must show
up here rather than silently in the benchmark."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, event, func, select

from shadowgap.db import models
from shadowgap.db.engine import get_engine, session_scope
from shadowgap.ingest import store
from shadowgap.ingest.store import IngestRequest
from shadowgap.ingest.writer import GroupWriter
from shadowgap.schemas import TrafficEvent
from tests.support.factories import native_event


def _requests(prefix: str, n: int) -> list[IngestRequest]:
    return [
        IngestRequest([TrafficEvent.model_validate(native_event(f"{prefix}-{i}", row=i))], "native")
        for i in range(n)
    ]


def _round_trips(requests: list[IngestRequest]) -> list[str]:
    """Every message the group writer sends to the server and waits for: statements, the
    pool's liveness ping, BEGIN, COMMIT and ROLLBACK."""
    sent: list[str] = []
    engine = get_engine()

    def on_statement(*args: Any) -> None:
        sent.append(" ".join(str(args[2]).split())[:120])

    def on_checkout(*_args: Any) -> None:
        sent.append("ping (pool_pre_ping)")

    # psycopg sends BEGIN before a transaction's first statement and COMMIT or ROLLBACK at its
    # end, except in autocommit, where it sends neither.
    def transactional(conn: Connection) -> bool:
        return not conn.connection.dbapi_connection.autocommit  # type: ignore[union-attr]

    def on_begin(conn: Connection) -> None:
        if transactional(conn):
            sent.append("BEGIN")

    def on_commit(conn: Connection) -> None:
        if transactional(conn):
            sent.append("COMMIT")

    def on_rollback(conn: Connection) -> None:
        if transactional(conn):
            sent.append("ROLLBACK")

    listeners = [
        ("before_cursor_execute", on_statement),
        ("begin", on_begin),
        ("commit", on_commit),
        ("rollback", on_rollback),
    ]
    for name, listener in listeners:
        event.listen(engine, name, listener)
    event.listen(engine.pool, "checkout", on_checkout)
    try:
        GroupWriter._store(requests)
    finally:
        for name, listener in listeners:
            event.remove(engine, name, listener)
        event.remove(engine.pool, "checkout", on_checkout)
    return sent


def _warm() -> None:
    """Segments created and cached, partitions made, the allocation's totals read: what a
    running API process has done before its steady-state groups."""
    GroupWriter._store(_requests("warm", 8))
    GroupWriter._store(_requests("warm-again", 8))


# ping, BEGIN, mark + purged ids + cheap counts, events, slice features, counter delta, COMMIT,
# fold (autocommit). Main before issue 24's round-trip work sent 12 (mark, purged ids and
# cheap counts apart, two delta inserts, the fold in BEGIN/COMMIT).
UNSAMPLED_GROUP = 8


def test_round_trips_per_group(production: str) -> None:
    _warm()
    sent = _round_trips(_requests("group", 8))
    assert len(sent) == UNSAMPLED_GROUP, sent
    assert sent[0].startswith("ping") and sent[1] == "BEGIN" and sent[-2] == "COMMIT", sent
    # The mark comes before the statement that draws the first event id.
    assert "pg_advisory_xact_lock_shared" in sent[2] and "purged_events" in sent[2], sent
    assert sent[3].startswith("INSERT INTO traffic_events"), sent


def test_a_sampled_group_adds_only_its_decisions(
    production: str, configure: Callable[..., None]
) -> None:
    configure(sampling_budget_fraction=1.0)
    _warm()
    sent = _round_trips(_requests("sampled", 8))
    assert len(sent) == UNSAMPLED_GROUP + 1, sent
    assert sum(s.startswith("INSERT INTO sampling_decisions") for s in sent) == 1, sent
    # Counts and samples go in one delta, and the fold leaves the segment rows exact.
    assert sum(s.startswith("INSERT INTO segment_count_deltas") for s in sent) == 1, sent
    with session_scope() as session:
        events, sampled = session.execute(
            select(func.sum(models.Segment.event_count), func.sum(models.Segment.sampled_count))
        ).one()
        decisions = session.scalar(select(func.count()).select_from(models.SamplingDecision))
    assert events == 24
    assert sampled == decisions > 0


def test_a_new_segment_costs_its_insert_and_one_read(production: str) -> None:
    _warm()
    requests = [
        IngestRequest(
            [TrafficEvent.model_validate(native_event("fresh-1", tenant="newcomer"))], "native"
        )
    ]
    sent = _round_trips(requests)
    # INSERT ... ON CONFLICT for the new segment, SELECT of its id, and its cheap count.
    assert len(sent) == UNSAMPLED_GROUP + 3, sent


def test_totals_read_inside_a_group_include_its_events(any_db: str) -> None:
    # The group's counter delta is written after sampling now; the allocation's totals, when
    # refreshed inside the group, must still count the group's events (as when the delta was
    # written first).
    store.clear_caches()
    results, _ = GroupWriter._store(_requests("totals", 6))
    assert sum(r.new for r in results) == 6
    with session_scope() as session:
        totals = store._totals_cache.get(session, 0, {})  # the value the group refreshed
        rows = session.execute(select(models.Segment.id, models.Segment.cheap_count)).all()
        segments = {int(segment_id): int(cheap) for segment_id, cheap in rows}
    assert totals.events == 6
    assert totals.cheap_events == 6
    assert totals.segment_cheap == segments
