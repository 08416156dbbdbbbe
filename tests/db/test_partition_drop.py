"""Dropping day partitions (PostgreSQL): a detached day leaves the parents at once, a row that
arrives for it afterwards lands elsewhere and is not lost, and a run that stopped between the
detach and the drop is finished by the next one."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, text

from shadowgap.config import get_settings
from shadowgap.db import models, partitions
from shadowgap.db.engine import session_scope
from shadowgap.ingest.store import store_events
from shadowgap.privacy import row_retention
from shadowgap.schemas import TrafficEvent
from tests.support.factories import native_event

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
OLD = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)


def _ingest(event_id: str, at: datetime) -> None:
    event = TrafficEvent.model_validate(native_event(event_id, at=at))
    with session_scope() as session:
        assert store_events(session, [event], "native", get_settings(), at).new == 1


def _where(event_id: str) -> str | None:
    with session_scope() as session:
        return session.execute(
            text("SELECT tableoid::regclass::text FROM traffic_events WHERE event_id = :e"),
            {"e": event_id},
        ).scalar()


def test_a_stopped_run_is_finished_and_late_rows_are_kept(
    production: str, configure: Callable[..., None]
) -> None:
    configure(event_row_days=180)
    _ingest("old-1", OLD)
    _ingest("young-1", NOW)
    # A run that detached the old day and stopped before dropping it.
    with session_scope() as session:
        partitions.detach_days(session.connection(), [OLD.date()], "1s", wait=False)
    with session_scope() as session:
        conn = session.connection()
        assert OLD.date() not in {p.day for p in partitions.list_partitions(conn)}
        assert partitions.expired_days(conn) == [OLD.date()]
        assert _where("old-1") is None  # no longer read through the parent
        for table in partitions.TABLES:
            name = partitions.expired_name(OLD.date(), table)
            assert conn.execute(text("SELECT to_regclass(:n)"), {"n": name}).scalar() == name
    # A late row for the detached day goes into the default partition of a process that
    # still counts the day as made, or into a new partition of one that does not.
    _ingest("old-late", OLD + timedelta(hours=1))
    assert _where("old-late") in {
        partitions.default_name(partitions.PARENT),
        partitions.partition_name(OLD.date()),
    }
    partitions.known.forget()
    _ingest("old-later", OLD + timedelta(hours=2))
    assert _where("old-later") == partitions.partition_name(OLD.date())

    result = row_retention.run(session_scope, NOW, get_settings())

    assert result.days == [OLD.date().isoformat()] and not result.busy
    with session_scope() as session:
        conn = session.connection()
        assert partitions.expired_days(conn) == []
        assert set(session.scalars(select(models.TrafficEvent.event_id))) == {"young-1"}
        assert session.scalar(select(func.count()).select_from(models.SliceFeatures)) == 1
        for table in partitions.TABLES:
            for name in (
                partitions.expired_name(OLD.date(), table),
                partitions.partition_name(OLD.date(), table),
            ):
                assert conn.execute(text("SELECT to_regclass(:n)"), {"n": name}).scalar() is None
