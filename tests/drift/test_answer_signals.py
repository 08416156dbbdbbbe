"""The answer-defect signals: a segment whose invalid tool-call rate rises raises a drift event
on that signal and nowhere else, a stationary one raises none, and the detectors count
towards the false-alarm budget only where they have inputs."""

from __future__ import annotations

import math
import random
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from shadowgap.config import Settings
from shadowgap.db.models import DetectorState, DriftEvent
from shadowgap.drift import codec, segment_signal_views, update_segment
from shadowgap.drift.signals import (
    EVERY_SEGMENT,
    REQUEST_SLO_SHARE,
    REQUEST_SLOS,
    SIGNALS,
    SLO_SHARE,
    WHERE_FED,
    error_value,
)

CHANGE_AT = 1500
N_EVENTS = 2500


def _checks(invalid: bool) -> dict[str, Any]:
    if invalid:
        tool_args = {
            "invalid": True,
            "calls": 1,
            "tool": "get_weather",
            "kind": "missing_argument",
            "path": "city",
        }
    else:
        tool_args = {"invalid": False, "calls": 1}
    return {"truncated": False, "refusal": False, "tool_args": tool_args}


def _agentic_rows(
    rows: SimpleNamespace, segments: dict[int, Any], seed: int
) -> list[dict[str, Any]]:
    """Interleaved tool-calling events, one a minute per segment; ``segments[id](i)`` is the
    invalid-call rate of the segment's i-th event. 90% are routed cheap, and only cheap
    answers are checked (as ingest does)."""
    rng = random.Random(seed)
    out = []
    n = 0
    for i in range(N_EVENTS):
        for segment_id, rate in segments.items():
            cheap = rng.random() < 0.9
            row = rows.event_row(
                n,
                segment_id,
                is_cheap=cheap,
                latency_ms=rng.lognormvariate(5.0, 0.3),
                cost_usd=0.001 + 0.0001 * rng.random(),
                answer_checks=_checks(rng.random() < rate(i)) if cheap else None,
            )
            row["occurred_at"] = row["occurred_at"] + timedelta(minutes=i)
            out.append(row)
            n += 1
    return out


def _run(session: Session, segment_id: int, settings: Settings) -> None:
    while True:
        batches = update_segment(session, segment_id, settings)
        if not any(batch.more for batch in batches):
            return


def test_a_rising_invalid_call_rate_fires_and_a_stationary_segment_does_not(
    session_factory: sessionmaker[Session], settings: Settings, rows: SimpleNamespace
) -> None:
    with session_factory() as session:
        regressed, steady, prose = rows.add_segments(session, ["regressed", "steady", "prose"])
        agentic = _agentic_rows(
            rows,
            {
                # A cheap-model swap starts dropping a required argument in a quarter of calls.
                regressed: lambda i: 0.25 if i >= CHANGE_AT else 0.02,
                steady: lambda i: 0.02,
            },
            seed=21,
        )
        rows.insert_events(session, agentic)
        checked = sum(1 for r in agentic if r["segment_id"] == regressed and r["answer_checks"])
        rows.insert_events(
            session, rows.interleaved_events([prose], 500, lambda s, i: 0.5, seed=3, start=10**6)
        )
        for segment in (prose, steady, regressed):
            _run(session, segment, settings)
        session.commit()
        drifts = list(session.scalars(select(DriftEvent)))
        states = {
            (row.segment_id, row.signal): row for row in session.scalars(select(DetectorState))
        }
        views = {
            segment: {v["signal"]: v for v in segment_signal_views(session, segment, settings)}
            for segment in (regressed, steady, prose)
        }

    fired = {(d.segment_id, d.signal) for d in drifts}
    assert (regressed, "tool_call_invalid_rate") in fired
    assert not {pair for pair in fired if pair[0] == steady}
    assert not {pair for pair in fired if pair[1] in ("truncation_rate", "refusal_rate")}
    drift = next(d for d in drifts if d.signal == "tool_call_invalid_rate")
    # Caught within a few hundred of the segment's requests after the change (its i-th event
    # has id 2i + 1), from the level before it.
    assert drift.at_event_pk is not None
    assert 2 * CHANGE_AT + 1 <= drift.at_event_pk < 2 * (CHANGE_AT + 300) + 1
    assert drift.before_mean is not None and drift.before_mean < 0.06
    assert drift.after_mean is not None and drift.after_mean > 0.15

    # The budget: 3 segments x (the every-segment signals and the SLO's shares), plus a
    # quarter share for each fed answer detector (the two agentic segments' tool-call,
    # truncation and refusal ones; nobody's schema one); an answer detector's D is the shares
    # over its quarter share.
    shares = 3 * (len(EVERY_SEGMENT) + SLO_SHARE + REQUEST_SLOS * REQUEST_SLO_SHARE) + 0.25 * 2 * 3
    answer = codec.loads(states[(regressed, "tool_call_invalid_rate")].state)
    detectors_part = settings.false_alarms_per_week * (1 - settings.slice_false_alarm_share)
    assert answer.budget == [pytest.approx(detectors_part), 4 * shares]
    core = codec.loads(states[(regressed, "latency")].state)
    assert core.budget == [pytest.approx(detectors_part), math.ceil(shares)]
    assert states[(prose, "tool_call_invalid_rate")].n_updates == 0

    # The API and the segment page list an answer signal only where it has inputs.
    assert views[regressed]["tool_call_invalid_rate"]["n_updates"] == checked
    assert views[regressed]["tool_call_invalid_rate"]["power"]["unit"] == "rate"
    assert "schema_invalid_rate" not in views[regressed]
    assert not set(views[prose]) & {"tool_call_invalid_rate", "truncation_rate", "refusal_rate"}
    assert set(EVERY_SEGMENT) <= set(views[prose])


def test_error_rate_leaves_refusals_to_the_refusal_detector_that_watches_them() -> None:
    def row(**values: Any) -> Any:
        base = {"status": "ok", "refused": False, "answer_checks": None}
        return SimpleNamespace(**{**base, **values})

    assert error_value(row(status="error")) == 1.0
    # A refusal no answer check saw (a flagship-routed one, a sender's bare flag) is an error.
    assert error_value(row(refused=True)) == 1.0
    watched = row(refused=True, answer_checks={"refusal": True})
    assert error_value(watched) == 0.0
    assert SIGNALS["refusal_rate"].value(watched) == 1.0  # type: ignore[misc]


def test_a_signal_added_to_a_watched_segment_starts_at_its_watermark(
    session_factory: sessionmaker[Session], settings: Settings, rows: SimpleNamespace
) -> None:
    """An upgrade adds the answer signals to segments that are watched already: they start
    where the segment's event signals are, not at the beginning of its history."""
    with session_factory() as session:
        (segment,) = rows.add_segments(session, ["old"])
        old = rows.interleaved_events([segment], 300, lambda s, i: 0.5, seed=4)
        for row in old:  # so that re-reading the history would show in the count
            row["answer_checks"] = _checks(invalid=False)
        rows.insert_events(session, old)
        _run(session, segment, settings)
        # As before this release: the answer signals' rows do not exist yet.
        for row in session.scalars(
            select(DetectorState).where(DetectorState.signal.in_(WHERE_FED))
        ):
            session.delete(row)
        session.flush()
        rows.insert_events(
            session,
            [
                rows.event_row(1000 + i, segment, answer_checks=_checks(invalid=False))
                for i in range(20)
            ],
        )
        _run(session, segment, settings)
        session.commit()
        states = {
            row.signal: row
            for row in session.scalars(
                select(DetectorState).where(DetectorState.segment_id == segment)
            )
        }
    assert states["tool_call_invalid_rate"].n_updates == 20
    assert states["tool_call_invalid_rate"].watermark == states["routing_share"].watermark
