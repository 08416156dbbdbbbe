"""Migration 0018 on a populated database: every event row, every reference to an event and
redelivery dedup survive the move to day partitions (PostgreSQL) or the new dedup key (SQLite),
and ingest numbers new events after the old ones."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from shadowgap.config import get_settings
from shadowgap.db import partitions
from shadowgap.db.engine import make_engine
from shadowgap.db.migrate import downgrade, upgrade
from shadowgap.ingest.store import clear_caches, store_events
from shadowgap.schemas import TrafficEvent
from tests.support.factories import native_event

DAYS = [datetime(2026, 10, 30, 23, 0, tzinfo=UTC), datetime(2026, 11, 1, 0, 0, tzinfo=UTC)]
EVENTS = 40
# Every table that points at an event, and its columns compared before and after.
REFERRING = {
    "sampling_decisions": "event_pk, segment_id, inclusion_probability",
    "reverse_samples": "event_pk, segment_id, threshold",
    "shadow_runs": "event_pk, replicate, answer",
    "verdicts": "event_pk, kind, rationale",
    "pending_originals": "event_pk, part",
    "slice_features": "event_pk, user_key, hour",
}


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Any, configure: Any) -> str:
    url = (
        f"sqlite:///{tmp_path}/partition.db"
        if request.param == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    configure(database_url=url)
    return url


def _populate(conn: Any) -> None:
    """Rows as revision 0014 stored them, over two days and a day boundary (on SQLite, times
    as SQLAlchemy writes them there)."""

    def at(value: datetime) -> Any:
        if conn.dialect.name == "sqlite":
            return value.strftime("%Y-%m-%d %H:%M:%S.%f")
        return value

    conn.execute(
        text(
            "INSERT INTO segments (id, key, dimensions, event_count, cheap_count, sampled_count, "
            "first_seen_at) VALUES (1, 'tenant=acme', '{}', :n, :n, 4, :at)"
        ),
        {"n": EVENTS, "at": at(DAYS[0])},
    )
    for pk in range(1, EVENTS + 1):
        when = at(DAYS[pk % 2] + timedelta(minutes=pk))
        conn.execute(
            text(
                "INSERT INTO traffic_events (id, event_id, segment_id, source_format, "
                "occurred_at, received_at, route_tier, route_model, is_cheap, request, "
                "prompt_hash, answer, prompt_tokens, completion_tokens, status, refused, "
                "escalated, attributes) VALUES (:pk, :eid, 1, 'native', :when, :when, 'cheap', "
                "'m', true, :req, 'h', :answer, 3, 4, 'ok', false, false, '{}')"
            ),
            {
                "pk": pk,
                "eid": f"evt-{pk}",
                "when": when,
                "req": json.dumps(
                    {"messages": [{"role": "user", "content": f"q{pk}"}], "params": {}}
                ),
                "answer": f"answer {pk}",
            },
        )
        conn.execute(
            text(
                "INSERT INTO slice_features (event_pk, occurred_at, user_key, hour, features) "
                "VALUES (:pk, :when, :user, :hour, '{}')"
            ),
            {"pk": pk, "when": when, "user": f"u{pk % 3}", "hour": pk},
        )
    for pk in (3, 8, 13, 20):
        conn.execute(
            text(
                "INSERT INTO sampling_decisions (event_pk, segment_id, inclusion_probability, "
                "hash_value, replicates, decided_at, base_draw) "
                "VALUES (:pk, 1, 0.1, 0.01, 1, :at, true)"
            ),
            {"pk": pk, "at": at(DAYS[1])},
        )
        conn.execute(
            text(
                "INSERT INTO shadow_runs (event_pk, replicate, status, client, model, answer, "
                "prompt_tokens, completion_tokens, cost_usd, attempts, created_at) "
                "VALUES (:pk, 0, 'ok', 'recorded', 'big', :a, 1, 1, 0.0, 1, :at)"
            ),
            {"pk": pk, "a": f"flagship {pk}", "at": at(DAYS[1])},
        )
        conn.execute(
            text(
                "INSERT INTO verdicts (event_pk, segment_id, kind, judge, winner, gap_score, "
                "inclusion_probability, raw, rationale, prompt_tokens, completion_tokens, "
                "cost_usd, latency_ms, created_at) VALUES (:pk, 1, 'gap', 'answer-match', "
                "'tie', 0.0, 0.1, '{}', :r, 0, 0, 0.0, 0.0, :at)"
            ),
            {"pk": pk, "r": f"why {pk}", "at": at(DAYS[1])},
        )
        conn.execute(
            text(
                "INSERT INTO pending_originals (event_pk, part, content, created_at) "
                "VALUES (:pk, 'request', '{}', :at)"
            ),
            {"pk": pk, "at": at(DAYS[1])},
        )
    conn.execute(
        text(
            "INSERT INTO reverse_samples (event_pk, segment_id, inclusion_probability, "
            "threshold, decided_at) VALUES (7, 1, 0.05, 0.5, :at)"
        ),
        {"at": at(DAYS[1])},
    )


def _snapshot(conn: Any) -> dict[str, list[tuple[Any, ...]]]:
    found = {
        "traffic_events": [
            tuple(row)
            for row in conn.execute(text("SELECT * FROM traffic_events ORDER BY id")).all()
        ]
    }
    for table, columns in REFERRING.items():
        found[table] = [
            tuple(row)
            for row in conn.execute(
                text(
                    f"SELECT {', '.join(f'r.{c.strip()}' for c in columns.split(','))}, "
                    f"e.event_id FROM {table} r "
                    "JOIN traffic_events e ON e.id = r.event_pk ORDER BY 1, 2"
                )
            ).all()
        ]
    return found


def test_populated_table_moves_with_rows_references_and_dedup(database_url: str) -> None:
    upgrade(database_url, "0014")
    engine = make_engine(database_url)
    try:
        with engine.begin() as conn:
            _populate(conn)
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT setval('traffic_events_id_seq', :n)"), {"n": EVENTS})
            before = _snapshot(conn)
        assert len(before["traffic_events"]) == EVENTS
        assert all(len(before[table]) for table in REFERRING)

        upgrade(database_url)
        with engine.connect() as conn:
            assert _snapshot(conn) == before
            if conn.dialect.name == "postgresql":
                assert partitions.is_partitioned(conn)
                days = {p.day for p in partitions.list_partitions(conn)}
                assert {d.date() for d in DAYS} <= days
                per_partition = conn.execute(
                    text(
                        "SELECT tableoid::regclass::text, count(*) FROM traffic_events "
                        "GROUP BY 1 ORDER BY 1"
                    )
                ).all()
                assert [n for _, n in per_partition] == [EVENTS // 2, EVENTS // 2]

        # Redeliveries of stored events are duplicates; a new event takes the next id.
        clear_caches()
        redelivered = [
            TrafficEvent.model_validate(
                native_event(f"evt-{pk}", at=DAYS[pk % 2] + timedelta(minutes=pk))
            )
            for pk in (1, 2, 39)
        ]
        fresh = TrafficEvent.model_validate(native_event("evt-new", at=DAYS[0]))
        with Session(engine) as session:
            stored = store_events(session, [*redelivered, fresh], "native", get_settings(), DAYS[1])
            session.commit()
        assert (stored.new, stored.duplicates) == (1, 3)
        with engine.connect() as conn:
            new_id = conn.execute(
                text("SELECT id FROM traffic_events WHERE event_id = 'evt-new'")
            ).scalar_one()
            assert new_id == EVENTS + 1
            stored_events = conn.execute(text("SELECT count(*) FROM traffic_events")).scalar_one()
            assert stored_events == EVENTS + 1

        downgrade(database_url, "0014")
        with engine.connect() as conn:
            after_down = _snapshot(conn)
        assert after_down["traffic_events"][:EVENTS] == before["traffic_events"]
        for table in REFERRING:  # the new event's own rows (slice features...) aside
            assert [r for r in after_down[table] if r[-1] != "evt-new"] == before[table]
    finally:
        engine.dispose()
