"""Migrations: upgrade, downgrade, and no difference between models and migrations."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.orm import Session

from shadowgap.db import partitions
from shadowgap.db.engine import make_engine
from shadowgap.db.migrate import downgrade, upgrade
from shadowgap.db.models import Base, Segment


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/migrations.db"
    return request.getfixturevalue("postgres_url")


def test_upgrade_matches_models_and_downgrade_empties(database_url: str) -> None:
    upgrade(database_url)
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn, opts={"compare_type": True, "include_name": partitions.include_name}
            )
            diff = compare_metadata(context, Base.metadata)
            assert diff == [], diff
            tables = set(inspect(conn).get_table_names())
        assert set(Base.metadata.tables) <= tables
        downgrade(database_url)
        with engine.connect() as conn:
            assert set(inspect(conn).get_table_names()) <= {"alembic_version"}
        upgrade(database_url)  # and back up again
    finally:
        engine.dispose()


def test_segment_event_times_are_filled_from_stored_events(database_url: str) -> None:
    """0008 renames the arrival column and fills the event-time range from the events."""
    upgrade(database_url, "0001")
    engine = make_engine(database_url)
    arrived = "2026-12-01 08:00:00+00:00"
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO segments (id, key, dimensions, event_count, cheap_count, "
                    "sampled_count, first_seen_at, last_event_at) VALUES "
                    "(1, 'tenant=a', '{}', 2, 2, 0, :arrived, :arrived), "
                    "(2, 'tenant=empty', '{}', 0, 0, 0, :arrived, NULL)"
                ),
                {"arrived": arrived},
            )
            for pk, when in ((1, "2026-11-03 09:30:00+00:00"), (2, "2026-11-16 23:00:00+00:00")):
                conn.execute(
                    text(
                        "INSERT INTO traffic_events (id, event_id, segment_id, source_format, "
                        "occurred_at, received_at, route_tier, route_model, is_cheap, request, "
                        "prompt_hash, prompt_tokens, completion_tokens, status, refused, "
                        "escalated, attributes) VALUES (:pk, :eid, 1, 'native', :when, "
                        ":arrived, 'cheap', 'm', true, '{}', 'h', 0, 0, 'ok', false, false, '{}')"
                    ),
                    {"pk": pk, "eid": f"e-{pk}", "when": when, "arrived": arrived},
                )
        upgrade(database_url)
        with Session(engine) as session:
            filled = session.get(Segment, 1)
            empty = session.get(Segment, 2)
            assert filled is not None and empty is not None
            assert filled.first_occurred_at == datetime(2026, 11, 3, 9, 30, tzinfo=UTC)
            assert filled.last_occurred_at == datetime(2026, 11, 16, 23, 0, tzinfo=UTC)
            assert filled.last_seen_at == datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
            assert (empty.first_occurred_at, empty.last_occurred_at) == (None, None)
        downgrade(database_url, "0001")
        with engine.connect() as conn:
            columns = {c["name"] for c in inspect(conn).get_columns("segments")}
            assert "last_event_at" in columns and not columns & {"last_seen_at", "last_occurred_at"}
            kept = conn.execute(text("SELECT last_event_at FROM segments WHERE id = 1")).scalar()
            assert kept is not None
    finally:
        engine.dispose()
