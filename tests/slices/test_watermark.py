"""Windows end at the event-time watermark (issue 22 item 13): replayed history is found by
the hourly discovery job and ``shadowgap slices`` without ``--until``, and one event dated
far in the future does not move the watermark past the clamp."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from shadowgap.config import get_settings
from shadowgap.db import models, segment_counts
from shadowgap.db.engine import session_scope
from shadowgap.db.watermark import MAX_CLOCK_SKEW, event_time_watermark, window_end
from shadowgap.ingest.store import store_events
from shadowgap.schemas import TrafficEvent
from tests.slices.test_discovery import _ingest_window
from tests.support.factories import native_event

# Two weeks of history that ended three weeks ago: outside any window ending at the wall clock.
REPLAY_START = datetime.now(UTC).replace(microsecond=0) - timedelta(days=35)


def test_replayed_history_is_discovered_without_until(production: str, configure) -> None:
    from shadowgap.cli.main import app
    from shadowgap.slices.tasks import discover_task

    configure(database_url=production, slice_min_pairs=30)
    _ingest_window("r1", REPLAY_START, 1200, seed=1)
    _ingest_window("r2", REPLAY_START + timedelta(days=7), 1200, seed=2)

    # The hourly job's body (as beat sends it: no arguments).
    summary = discover_task()
    assert summary["pairs"] == 1200 and summary["tested"] > 0, summary
    with session_scope() as session:
        keys = [session.get(models.Slice, i).key for i in summary["found"]]  # type: ignore[union-attr]
    assert any("api_key_alias=bulk" in key.split("&") for key in keys), keys

    result = CliRunner().invoke(app, ["slices"])
    assert result.exit_code == 0, result.output
    assert "1200 judged pairs" in result.output, result.output
    assert "api_key_alias=bulk" in result.output


@pytest.mark.parametrize("db", ["sqlite", "postgres"])
def test_watermark_is_the_latest_event_clamped_to_now_plus_skew(
    db: str, request: pytest.FixtureRequest
) -> None:
    request.getfixturevalue("embedded" if db == "sqlite" else "production")
    now = datetime.now(UTC).replace(microsecond=0)
    with session_scope() as session:
        assert event_time_watermark(session, now) == now  # nothing received yet

    def ingest(event_id: str, at: datetime, tenant: str) -> None:
        raw = native_event(event_id, row=1, at=at, attributes={"tenant": tenant})
        with session_scope() as session:
            store_events(session, [TrafficEvent.model_validate(raw)], "native", get_settings(), now)
        with session_scope() as session:  # as the API does after each commit
            segment_counts.fold(session)

    old = now - timedelta(days=20)
    ingest("old", old, "acme")
    ingest("corrupt", datetime(2554, 7, 21, 23, 34, 33, tzinfo=UTC), "acme")
    ingest("other", old - timedelta(days=1), "globex")
    with session_scope() as session:
        # The event dated 2554 is ignored: the window ends just after the latest sane event.
        assert event_time_watermark(session, now) == old
        assert window_end(session, now) > old
        acme, globex = (
            session.scalar(select(models.Segment.id).where(models.Segment.key == key))
            for key in ("tenant=acme", "tenant=globex")
        )
        assert event_time_watermark(session, now, segment_id=acme) == old
        assert event_time_watermark(session, now, segment_id=globex) == old - timedelta(days=1)

    # A sender whose clock runs a little ahead (within the skew) still moves it.
    ahead = now + MAX_CLOCK_SKEW - timedelta(seconds=30)
    ingest("ahead", ahead, "acme")
    with session_scope() as session:
        assert event_time_watermark(session, now) == ahead
        assert event_time_watermark(session, now, segment_id=acme) == ahead
