"""The text window on PostgreSQL (day partitions rewritten and swapped) and SQLite (UPDATEs):
unsampled events lose their prompt and answer text once received a window ago, and their slice
feature values once old enough; sampled and reverse-sampled events keep both; every other
column and every row stays."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, text

from shadowgap.config import get_settings
from shadowgap.db import models, partitions
from shadowgap.db.engine import session_scope
from shadowgap.ingest.store import store_events
from shadowgap.privacy import text_window
from shadowgap.schemas import TrafficEvent
from tests.support.factories import native_event

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
TEXT_COLUMNS = ("request", "answer", "answer_tool_calls", "error", "prompt_hash")


def _events(prefix: str, start: datetime, n: int) -> list[TrafficEvent]:
    return [
        TrafficEvent.model_validate(
            native_event(
                f"{prefix}-{i}",
                row=i,
                at=start + timedelta(seconds=i),
                tier="cheap" if i % 4 else "flagship",
                error="upstream said: jane@example.com" if i % 7 == 3 else None,
            )
        )
        for i in range(n)
    ]


def _ingest(events: list[TrafficEvent], received: datetime) -> None:
    with session_scope() as session:
        store_events(session, events, "native", get_settings(), received)


def _rows() -> dict[str, dict[str, Any]]:
    with session_scope() as session:
        table = models.TrafficEvent.__table__
        return {row["event_id"]: dict(row) for row in session.execute(select(table)).mappings()}


def _features() -> dict[int, dict[str, Any]]:
    with session_scope() as session:
        sf = models.SliceFeatures
        return {pk: f for pk, f in session.execute(select(sf.event_pk, sf.features))}


def _kept_pks() -> set[int]:
    with session_scope() as session:
        sampled = session.scalars(select(models.SamplingDecision.event_pk)).all()
        reverse = session.scalars(select(models.ReverseSample.event_pk)).all()
    return set(sampled) | set(reverse)


def _reverse_sample(event_id: str) -> None:
    """What the reverse shadow writes when it draws a flagship-routed event."""
    with session_scope() as session:
        event = session.execute(
            select(models.TrafficEvent).where(models.TrafficEvent.event_id == event_id)
        ).scalar_one()
        session.add(
            models.ReverseSample(
                event_pk=event.id,
                segment_id=event.segment_id,
                inclusion_probability=0.05,
                threshold=0.5,
                decided_at=NOW,
            )
        )


def _cleared(row: dict[str, Any]) -> bool:
    return (
        row["request"] == {"messages": [], "params": {"temperature": 0}}
        and row["answer"] is None
        and row["answer_tool_calls"] is None
        and row["error"] is None
        and row["prompt_hash"] == ""
    )


def _same_but_text(before: dict[str, Any], after: dict[str, Any]) -> None:
    for column, value in before.items():
        if column not in TEXT_COLUMNS:
            assert after[column] == value, column


def test_unsampled_text_goes_after_the_window(any_db: str, configure: Callable[..., None]) -> None:
    # Slice feature values go once 1.5 days old: the first day's, not the second's.
    configure(sampling_budget_fraction=0.2, text_window_minutes=60, slice_feature_days=1.5)
    day1, day2 = NOW - timedelta(days=2), NOW - timedelta(days=1)
    _ingest(_events("d1", day1, 30) + _events("d2", day2, 30), NOW - timedelta(hours=3))
    _ingest(_events("fresh", NOW - timedelta(minutes=10), 8), NOW - timedelta(minutes=10))
    # A late event: dated two days ago, received five minutes ago (inside the window).
    _ingest(_events("late", day1 + timedelta(hours=1), 1), NOW - timedelta(minutes=5))
    _reverse_sample("d2-4")  # flagship-routed (i % 4 == 0)
    before = _rows()
    features = _features()
    kept = _kept_pks()
    assert len(before) == 69 and all(features.values())
    assert 0 < len(kept) < 60, "the test needs sampled and unsampled events"

    result = text_window.run(session_scope, NOW, get_settings())
    after = _rows()
    assert set(after) == set(before)
    features_after = _features()
    assert set(features_after) == set(features)
    partitioned = any_db.startswith("postgresql")
    cutoff = NOW - timedelta(minutes=60)
    cleared = 0
    for event_id, row in after.items():
        old = before[event_id]
        _same_but_text(old, row)
        past_window = old["received_at"] < cutoff
        # PostgreSQL clears a day partition once the day has ended; NOW's day has not.
        closed = not partitioned or old["occurred_at"] < datetime(2026, 11, 20, tzinfo=UTC)
        if old["id"] in kept or not past_window or not closed:
            assert row == old, event_id
            assert features_after[old["id"]] == features[old["id"]]
        else:
            assert _cleared(row), event_id
            old_enough = event_id.startswith("d1")
            assert features_after[old["id"]] == ({} if old_enough else features[old["id"]])
            cleared += 1
    assert cleared == result.events >= 10
    assert after["d2-4"] == before["d2-4"]  # reverse-sampled
    assert result.partitions == (2 if partitioned else 0)

    # Later: the late event has passed the window too; its partition is done again.
    later = NOW + timedelta(hours=2)
    again = text_window.run(session_scope, later, get_settings())
    final = _rows()
    assert _cleared(final["late-0"]) if before["late-0"]["id"] not in kept else True
    assert again.partitions == (1 if partitioned else 0)
    for event_id, row in final.items():
        if before[event_id]["id"] in kept:
            assert row == before[event_id]
    # A third run finds nothing left to do.
    assert text_window.run(session_scope, later, get_settings()).events == 0

    # Redelivery dedup survives the swap; a new event for a rewritten day is stored.
    with session_scope() as session:
        stored = store_events(
            session,
            _events("d1", day1, 2) + _events("new", day1, 1),
            "native",
            get_settings(),
            later,
        )
    assert (stored.new, stored.duplicates) == (1, 2)


def test_window_off_keeps_text(any_db: str, configure: Callable[..., None]) -> None:
    configure(text_window_minutes=0)
    _ingest(_events("d1", NOW - timedelta(days=3), 10), NOW - timedelta(days=3))
    before = _rows()
    assert text_window.run(session_scope, NOW, get_settings()).events == 0
    assert _rows() == before


def test_beat_creates_partitions_ahead(production: str, configure: Callable[..., None]) -> None:
    configure(partition_days_ahead=4)
    text_window.run(session_scope, NOW, get_settings())
    with session_scope() as session:
        days = {p.day for p in partitions.list_partitions(session.connection())}
        kind = session.execute(
            text("SELECT relkind FROM pg_class WHERE relname = 'traffic_events'")
        ).scalar()
    assert kind == "p"
    assert {NOW.date() + timedelta(days=n) for n in range(5)} <= days


def test_a_row_for_a_day_without_partition_moves_in_when_it_is_made(
    production: str, configure: Callable[..., None]
) -> None:
    """A row written by anything but ingest for a day with no partition lands in the default
    partition; ingest's on-demand creation of that day moves it in."""
    day = datetime(2025, 3, 4, 10, tzinfo=UTC)
    with session_scope() as session:
        segment = models.Segment(key="tenant=x", dimensions={"tenant": "x"})
        session.add(segment)
        session.flush()
        session.add(
            models.TrafficEvent(
                event_id="direct-1",
                segment_id=segment.id,
                source_format="native",
                occurred_at=day,
                received_at=day,
                route_tier="cheap",
                route_model="m",
                is_cheap=True,
                request={"messages": [], "params": {}},
                prompt_hash="h",
                status="ok",
                attributes={},
            )
        )

    def where(event_id: str) -> str:
        with session_scope() as session:
            return str(
                session.execute(
                    text("SELECT tableoid::regclass::text FROM traffic_events WHERE event_id = :e"),
                    {"e": event_id},
                ).scalar_one()
            )

    assert where("direct-1") == "traffic_events_default"
    _ingest(_events("same-day", day, 1), day)
    assert where("direct-1") == where("same-day-0") == partitions.partition_name(day.date())
