"""An announced router change re-baselines the segment's detectors instead of alarming."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from shadowgap.config import Settings
from shadowgap.db.models import DetectorState, DriftEvent, RouterChange
from shadowgap.drift import update_segment
from shadowgap.drift.codec import loads
from shadowgap.enums import ChangeStatus

SHIFT_AT = 1000
T0 = datetime(2025, 1, 6, tzinfo=UTC)  # tests/drift/conftest.py's first event time


def _shifted(segment_a: int):  # type: ignore[no-untyped-def]
    """Routing share of segment A jumps from 0.5 to 0.85 at its SHIFT_AT-th event."""
    return lambda segment, i: 0.85 if segment == segment_a and i >= SHIFT_AT else 0.5


def _record(session: Session, scope: str, at: datetime) -> None:
    session.add(
        RouterChange(
            scope=scope,
            at=at,
            description="route more of a cheap",
            recorded_by="test",
            status=ChangeStatus.PENDING,
            verification={},
        )
    )
    session.flush()


def _routing_drifts(session: Session) -> list[DriftEvent]:
    return list(session.scalars(select(DriftEvent).where(DriftEvent.signal == "routing_share")))


def _run(
    session_factory: sessionmaker[Session],
    settings: Settings,
    rows: SimpleNamespace,
    scope: str | None,
    batches: int = 1,
) -> tuple[list[DriftEvent], int]:
    with session_factory() as session:
        a, b = rows.add_segments(session, ["a", "b"])
        events = rows.interleaved_events([a, b], 2000, _shifted(a), seed=2)
        # Two segments interleaved: A's i-th event is event 2i, at T0 + 2i seconds.
        shift_time = T0 + timedelta(seconds=2 * SHIFT_AT)
        if scope is not None:
            _record(session, scope, shift_time)
        size = len(events) // batches
        for k in range(batches):
            rows.insert_events(session, events[k * size : (k + 1) * size])
            update_segment(session, a, settings)
        session.commit()
        return _routing_drifts(session), a


def test_the_shift_alarms_without_an_announced_change(
    session_factory: sessionmaker[Session], settings: Settings, rows: SimpleNamespace
) -> None:
    drifts, _ = _run(session_factory, settings, rows, scope=None)
    assert drifts, "the baseline case must alarm, or the next test proves nothing"


def test_an_announced_change_rebaselines_instead_of_alarming(
    session_factory: sessionmaker[Session], settings: Settings, rows: SimpleNamespace
) -> None:
    drifts, a = _run(session_factory, settings, rows, scope="tenant=a", batches=3)
    assert drifts == []
    with session_factory() as session:
        row = session.scalar(
            select(DetectorState).where(
                DetectorState.segment_id == a, DetectorState.signal == "routing_share"
            )
        )
        assert row is not None
        state = loads(row.state)
        assert state.rebaselined_at() == (T0 + timedelta(seconds=2 * SHIFT_AT)).timestamp()
        # The new regime is the level after the change, not a mix of both.
        assert state.regime.n == 2000 - SHIFT_AT
        assert abs(state.regime.mean - 0.85) < 0.05


def test_a_change_of_another_scope_leaves_the_segment_alone(
    session_factory: sessionmaker[Session], settings: Settings, rows: SimpleNamespace
) -> None:
    drifts, _ = _run(session_factory, settings, rows, scope="tenant=b")
    assert drifts, "a change recorded for tenant b must not silence tenant a"


def test_a_later_shift_after_the_rebaseline_still_alarms(
    session_factory: sessionmaker[Session], settings: Settings, rows: SimpleNamespace
) -> None:
    """Re-baselining resets the level, it does not switch the detector off."""
    with session_factory() as session:
        (a,) = rows.add_segments(session, ["a"])
        _record(session, "tenant=a", T0 + timedelta(seconds=1000))

        def rate(segment: int, i: int) -> float:
            return 0.5 if i < 1000 else (0.85 if i < 3000 else 0.3)

        rows.insert_events(session, rows.interleaved_events([a], 5000, rate, seed=3))
        update_segment(session, a, settings)
        session.commit()
        drifts = _routing_drifts(session)
    assert drifts, "the unannounced second shift went undetected"
    assert all(d.sample_index >= 3000 for d in drifts)
