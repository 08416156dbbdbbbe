"""Micro-batched detector updates per segment, with state persisted in ``detector_states``.

:func:`update_segment` is the body of the ``drift.update`` job: it reads a segment's new
``traffic_events`` and ``verdicts`` (ids above each signal's watermark, in id order), feeds
every signal's detector in one batch, writes one ``drift_events`` row per detection and stores
the detector state back. It takes ``session`` first and never commits: the caller owns the
transaction, so the state, the watermark and the drift events commit together or not at all.

**Several workers.** The segment's ``detector_states`` rows are locked for the whole batch
(``SELECT ... FOR UPDATE`` on PostgreSQL). SQLite serialises writers per database, but with
the driver's default transaction handling reads run before the write lock is taken, so two
workers could read the same watermark and both apply the batch.
:func:`shadowgap.db.engine.make_engine`
opens every SQLite transaction with ``BEGIN IMMEDIATE``, which prevents that; for any other
SQLite engine a no-op ``UPDATE`` on the segment's rows is issued first, which takes the write
lock before anything is read. A second worker thus waits, then reads the watermark
the first one committed: a redelivered or concurrent batch is a no-op. Missing rows (a new
segment) are created with ``INSERT ... ON CONFLICT DO NOTHING`` and then locked, so two
workers racing on a new segment do not collide on the unique key.

**Ordering.** A watermark must never pass an id that can still commit. Ingest takes event ids
without any lock, so they may commit out of order and leave holes: events are read only up to
the event horizon (every id below it is final, :mod:`shadowgap.db.event_horizon`), which each
update first tries to advance, and the traffic share counts the events between two of a
segment's ids without the recorded holes. Judging locks the segment row before it inserts
verdicts, so a segment's verdicts take ids and commit in the same order.

**State format.** ``state`` is a :class:`~shadowgap.drift.state.SignalState` as versioned JSON
(:mod:`shadowgap.drift.codec`), never pickle. A state that does not decode (a row from an older
version, an edited row) is rebuilt from history: a fresh detector silently replays the
signal's last :data:`REBUILD_ROWS` rows up to the stored watermark (no drift events are raised
for them), then carries on with the new rows as usual.

**Bounded batches.** One call reads at most ``drift_batch_rows`` new events and as many new
verdicts, so a backlog never meets the job's time limit; the watermarks move with every batch,
and :attr:`SignalBatch.more` tells the job to queue the next one at once.

**Announced router changes.** A router change recorded for the segment's scope
(``router_changes``, :mod:`shadowgap.db.scope`) re-baselines its detectors where it went live:
the first row at or after the change's time starts a fresh regime
(:meth:`SignalState.rebaseline`), so the change itself raises no routing-share (or cost,
latency, quality) alarm; the change's verification (``shadowgap.changes.verify``) judges it
instead. Traffic share is left alone: a router does not change how much traffic a segment
sends. A state rebuilt from history replays without them.

**False-alarm budget.** Each batch recomputes every detector's ARL0 from the settings, the
current number of segments (rounded up to a power of two, so thresholds move only when the
count doubles) and the detector's own samples per week of event time:
``ARL0 = S * G * N_d / F`` (:func:`shadowgap.drift.budget.arl0_for_rate`), rounded to a power of
two so that designs are reused.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from sqlalchemy import case, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shadowgap.config import Settings
from shadowgap.db import event_horizon
from shadowgap.db.models import (
    DetectorState,
    DriftEvent,
    RouterChange,
    SamplingDecision,
    Segment,
    TrafficEvent,
    Verdict,
    utcnow,
)
from shadowgap.db.scope import segment_in_scope
from shadowgap.drift import codec
from shadowgap.drift.budget import arl0_for_rate, detector_alarms_per_week
from shadowgap.drift.power import signal_power
from shadowgap.drift.signals import (
    SIGNALS,
    WHERE_FED,
    SignalSpec,
    budget_detectors,
    budget_shares,
    event_values,
    quality_stream,
    traffic_gaps,
)
from shadowgap.drift.state import Detection, SignalState
from shadowgap.enums import VerdictKind
from shadowgap.stats.excess_gap import WeightedSums
from shadowgap.stats.pooled import beta_prior

logger = logging.getLogger(__name__)

# Rows a rebuilt state replays (per signal) before it carries on.
REBUILD_ROWS = 5_000
# Signals an announced router change does not re-baseline: the segment's share of all traffic
# is the senders' doing, not the router's.
NOT_REBASELINED = frozenset({"traffic_share"})


@dataclass(frozen=True)
class SignalBatch:
    """What one signal got from a batch: new samples, drift events, the recent level."""

    signal: str
    n_new: int
    drift_event_ids: list[int]
    recent_mean: float | None
    recent_n: int
    more: bool = False  # the batch was full: more rows are waiting
    n_updates: int = 0  # the detector's sample count when recent_mean was taken


def _fed_elsewhere(session: Session, segment_id: int) -> int:
    """Answer-defect detectors of other segments that have had a value."""
    return (
        session.scalar(
            select(func.count())
            .select_from(DetectorState)
            .where(
                DetectorState.signal.in_(WHERE_FED),
                DetectorState.n_updates > 0,
                DetectorState.segment_id != segment_id,
            )
        )
        or 0
    )


def update_segment(session: Session, segment_id: int, settings: Settings) -> list[SignalBatch]:
    """Feed a segment's new rows to its detectors; one :class:`SignalBatch` per signal.

    Never commits. Calling it again without new rows changes nothing and returns ``n_new == 0``
    for every signal.
    """
    # Before anything is written or locked (this transaction's own xid would hold it back).
    horizon = event_horizon.advance(session)
    _take_write_lock(session, segment_id)
    n_segments = session.scalar(select(func.count()).select_from(Segment)) or 1
    rows = _locked_rows(session, segment_id, settings, n_segments)
    states = {
        name: _load(session, segment_id, row, settings, n_segments) for name, row in rows.items()
    }
    limit = settings.drift_batch_rows

    detections: dict[str, list[Detection]] = {name: [] for name in SIGNALS}
    n_new: dict[str, int] = {name: 0 for name in SIGNALS}
    watermarks: dict[str, int] = {name: row.watermark for name, row in rows.items()}
    occurred: dict[int, Any] = {}

    event_signals = [spec for spec in SIGNALS.values() if spec.source == "events"]
    events = _new_events(
        session, segment_id, min(watermarks[s.name] for s in event_signals), limit, horizon
    )
    more = len(events) >= limit
    # This segment's answer-defect detectors count once they have a value, this batch's too.
    checked = [event for event in events if event.answer_checks]
    fed_here = sum(
        1
        for name in WHERE_FED
        if states[name].n_updates > 0
        or event_values(SIGNALS[name], [e for e in checked if e.id > watermarks[name]])
    )
    shares = budget_shares(n_segments, _fed_elsewhere(session, segment_id) + fed_here)
    for name, state in states.items():
        state.set_budget(_detector_budget(settings), budget_detectors(SIGNALS[name], shares))
    for event in events:
        occurred[event.id] = event.occurred_at
    changes = _announced_changes(session, segment_id, settings)
    for spec in event_signals:
        fresh = [event for event in events if event.id > watermarks[spec.name]]
        if not fresh:
            continue
        for change_at, chunk in _split_at_changes(states[spec.name], spec, fresh, changes):
            if change_at is not None:
                states[spec.name].rebaseline(change_at)
            fed, found = _feed_events(
                states[spec.name],
                spec,
                chunk,
                settings,
                n_segments,
                holes=_holes(session, spec, states[spec.name], chunk),
            )
            n_new[spec.name] += fed
            detections[spec.name].extend(found)
        watermarks[spec.name] = fresh[-1].id

    quality = [spec for spec in SIGNALS.values() if spec.source == "verdicts"]
    for spec in quality:
        verdicts = _new_verdicts(session, segment_id, watermarks[spec.name], limit)
        more = more or len(verdicts) >= limit
        if not verdicts:
            continue
        states[spec.name].set_prior(_pooled_prior(session, spec.name, segment_id))
        states[spec.name].set_global_noise(_pooled_noise(session, spec.name))
        in_order = sorted(verdicts, key=lambda row: row.event_pk)
        for change_at, chunk in _split_at_changes(states[spec.name], spec, in_order, changes):
            if change_at is not None:
                states[spec.name].rebaseline(change_at)
            fed, found = _feed_verdicts(states[spec.name], chunk, settings, n_segments)
            n_new[spec.name] += fed
            detections[spec.name].extend(found)
        watermarks[spec.name] = verdicts[-1].id

    drift_rows: dict[str, list[DriftEvent]] = {name: [] for name in SIGNALS}
    for name, found_list in detections.items():
        for detection in found_list:
            drift = _drift_row(segment_id, name, states[name], detection, occurred)
            session.add(drift)
            drift_rows[name].append(drift)

    now = utcnow()
    for name, row in rows.items():
        if watermarks[name] == row.watermark:
            continue
        state = states[name]
        row.state = codec.dumps(state)
        row.watermark = watermarks[name]
        row.n_updates = state.n_updates
        row.estimate = state.estimate()
        row.updated_at = now
    session.flush()

    return [
        SignalBatch(
            signal=name,
            n_new=n_new[name],
            drift_event_ids=[drift.id for drift in drift_rows[name]],
            recent_mean=states[name].recent_mean(),
            recent_n=states[name].recent.count,
            more=more,
            n_updates=states[name].n_updates,
        )
        for name in SIGNALS
    ]


def _announced_changes(session: Session, segment_id: int, settings: Settings) -> list[float]:
    """Epoch seconds of the router changes recorded for this segment's scope, oldest first."""
    dimensions = session.scalar(select(Segment.dimensions).where(Segment.id == segment_id))
    rows = session.execute(select(RouterChange.scope, RouterChange.at).order_by(RouterChange.at))
    configured = list(settings.segment_dimensions)
    return [
        at
        for scope, when in rows
        if segment_in_scope(dimensions or {}, scope, configured)
        and (at := _epoch(when)) is not None
    ]


def _split_at_changes(
    state: SignalState, spec: SignalSpec, rows: Sequence[Any], changes: list[float]
) -> list[tuple[float | None, list[Any]]]:
    """``rows`` cut where a change the state has not been re-baselined at goes live:
    ``(change time or None, rows from there)``, in order."""
    done = state.rebaselined_at()
    pending = [at for at in changes if done is None or at > done]
    if spec.name in NOT_REBASELINED or not pending:
        return [(None, list(rows))]
    chunks: list[tuple[float | None, list[Any]]] = []
    current: list[Any] = []
    current_change: float | None = None
    for row in rows:
        when = _epoch(row.occurred_at)
        due = None
        while pending and when is not None and when >= pending[0]:
            due = pending.pop(0)
        if due is not None:
            if current:
                chunks.append((current_change, current))
            current, current_change = [], due
        current.append(row)
    chunks.append((current_change, current))
    return chunks


def _feed_events(
    state: SignalState,
    spec: SignalSpec,
    fresh: Sequence[Any],
    settings: Settings,
    n_segments: int,
    *,
    silent: bool = False,
    holes: Sequence[tuple[int, int]] = (),
) -> tuple[int, list[Detection]]:
    """Feed one event signal; ``(samples, detections)``. ``silent`` drops the detections (a
    rebuild replaying history). ``holes`` are the ids between the share's events that no
    event has (:func:`_holes`): they are not traffic."""
    found: list[Detection] = []
    if spec.estimator == "share":
        gaps = traffic_gaps([event.id for event in fresh], state.last_event_id)
        previous = state.last_event_id
        if holes:
            counted = []
            for event_id, gap in gaps:
                if previous is not None:
                    gap -= event_horizon.missing_in(list(holes), previous, event_id)
                counted.append((event_id, gap))
                previous = event_id
            gaps = counted
        for (event_id, gap), event in zip(gaps, fresh, strict=True):
            found.extend(state.feed_gap(event_id, gap, _epoch(event.occurred_at)))
        n = len(gaps)
    else:
        values = event_values(spec, fresh)
        times = {event.id: event.occurred_at for event in fresh}
        for event_id, value in values:
            detection = state.feed(value, event_id, at_time=_epoch(times[event_id]))
            if detection is not None:
                found.append(detection)
        n = len(values)
    return n, ([] if silent else found)


def _holes(
    session: Session, spec: SignalSpec, state: SignalState, fresh: Sequence[Any]
) -> list[tuple[int, int]]:
    """The holes in event ids that the share's gaps over ``fresh`` span (none for the other
    signals, and none on SQLite)."""
    if spec.estimator != "share" or not fresh:
        return []
    after = state.last_event_id if state.last_event_id is not None else fresh[0].id
    return event_horizon.holes_between(session, after, fresh[-1].id)


def _feed_verdicts(
    state: SignalState,
    verdicts: Sequence[Any],
    settings: Settings,
    n_segments: int,
    *,
    silent: bool = False,
) -> tuple[int, list[Detection]]:
    """Feed the quality signal in event order; ``(gap verdicts, detections)``.

    Workers judge in parallel, so verdict ids (the watermark's order) do not follow the
    events'; within a batch the detector sees them in the order the traffic happened, so a
    change point lands where the change did, not where a slow judgement put it."""
    found: list[Detection] = []
    stream = quality_stream(sorted(verdicts, key=lambda row: row.event_pk))
    times = {row.event_pk: row.occurred_at for row in verdicts}
    n = 0
    for kind, event_pk, value, weight in stream:
        if kind == VerdictKind.NOISE:
            state.feed_noise(value, weight)
            continue
        detection = state.feed(value, event_pk, weight, _epoch(times[event_pk]))
        n += 1
        if detection is not None:
            found.append(detection)
    return n, ([] if silent else found)


def _epoch(when: Any) -> float | None:
    """Epoch seconds of a stored timestamp (SQLite hands back naive UTC datetimes)."""
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return float(when.timestamp())


def segment_signal_views(
    session: Session, segment_id: int, settings: Settings
) -> list[dict[str, Any]]:
    """Every signal's current estimate, interval, detector state and detection power
    (:mod:`shadowgap.drift.power`), for the API and the dashboard.

    Reads the stored ``estimate`` JSON only (no state decoding). Signals that have not seen data
    yet are listed with ``n_updates == 0``, ``warming_up`` true and no estimate, except the
    answer-defect ones (``budget="where_fed"``): a segment has those only once they have had a
    value (a prose segment has no tool-call detector).
    """
    rows = {
        row.signal: row
        for row in session.scalars(
            select(DetectorState).where(DetectorState.segment_id == segment_id)
        )
    }
    views: list[dict[str, Any]] = []
    for name, spec in SIGNALS.items():
        row = rows.get(name)
        if spec.budget == "where_fed" and (row is None or not row.n_updates):
            continue
        estimate: dict[str, Any] = dict(row.estimate) if row is not None else {}
        views.append(
            {
                "signal": name,
                "description": spec.description,
                "detector": row.detector if row is not None else spec.detector,
                "params": dict(spec.params),
                "n_updates": row.n_updates if row is not None else 0,
                "watermark": row.watermark if row is not None else 0,
                "updated_at": row.updated_at if row is not None else None,
                "warming_up": estimate.get("warming_up", True),
                "statistic": estimate.get("statistic"),
                "threshold": estimate.get("threshold"),
                "estimate": estimate or None,
                "power": signal_power(spec, estimate, settings),
            }
        )
    return views


# --- helpers -------------------------------------------------------------------------------


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def _take_write_lock(session: Session, segment_id: int) -> None:
    """SQLite only: start the write transaction before reading (see the module docstring)."""
    if _dialect(session) == "sqlite":
        session.execute(
            update(DetectorState)
            .where(DetectorState.segment_id == segment_id)
            .values(watermark=DetectorState.watermark)
            .execution_options(synchronize_session=False)
        )


def _select_locked(session: Session, segment_id: int) -> dict[str, DetectorState]:
    stmt = (
        select(DetectorState)
        .where(DetectorState.segment_id == segment_id)
        .order_by(DetectorState.signal)
        .with_for_update()
        # Sessions created with expire_on_commit=False would otherwise hand back objects
        # loaded in an earlier transaction, with another worker's changes missing.
        .execution_options(populate_existing=True)
    )
    return {row.signal: row for row in session.scalars(stmt)}


def _locked_rows(
    session: Session, segment_id: int, settings: Settings, n_segments: int
) -> dict[str, DetectorState]:
    rows = _select_locked(session, segment_id)
    missing = [name for name in SIGNALS if name not in rows]
    if not missing:
        return rows
    # A signal added to a segment that is already watched (an upgrade) starts where the
    # segment's event signals are: the rows before have no input for it (their answer checks
    # were never computed), and reading the whole history again would only stall the segment.
    event_marks = [
        row.watermark
        for name, row in rows.items()
        if name in SIGNALS and SIGNALS[name].source == "events"
    ]
    start = min(event_marks) if event_marks else 0
    fresh = [
        {
            "segment_id": segment_id,
            "signal": name,
            "detector": SIGNALS[name].detector,
            "state": codec.dumps(_fresh_state(name, settings, n_segments)),
            "watermark": start if SIGNALS[name].source == "events" else 0,
            "n_updates": 0,
            "estimate": {},
            "updated_at": utcnow(),
        }
        for name in missing
    ]
    _insert_ignoring_conflicts(session, fresh)
    rows = _select_locked(session, segment_id)
    return {name: rows[name] for name in SIGNALS}


def _insert_ignoring_conflicts(session: Session, values: Sequence[dict[str, Any]]) -> None:
    dialect = _dialect(session)
    if dialect in ("postgresql", "sqlite"):
        insert = pg_insert if dialect == "postgresql" else sqlite_insert
        stmt = insert(DetectorState).values(list(values))
        session.execute(stmt.on_conflict_do_nothing(index_elements=["segment_id", "signal"]))
        return
    for item in values:
        try:
            with session.begin_nested():
                session.add(DetectorState(**item))
        except IntegrityError:
            continue  # another worker created it; the locked select below picks it up


def _pooled_prior(session: Session, signal: str, segment_id: int) -> tuple[float, float] | None:
    """Beta prior for a rate, fitted over the other segments' detectors of ``signal``."""
    estimates = session.scalars(
        select(DetectorState.estimate).where(
            DetectorState.signal == signal, DetectorState.segment_id != segment_id
        )
    )
    counts = [
        (float(e["detector_ones"]), float(e["detector_n"]))
        for e in estimates
        if e and e.get("detector_n") is not None
    ]
    return beta_prior(counts)


def _pooled_noise(session: Session, signal: str) -> WeightedSums:
    """Every segment's noise-floor sums added up: the floor a segment with few pairs borrows."""
    total = WeightedSums()
    for estimate in session.scalars(
        select(DetectorState.estimate).where(DetectorState.signal == signal)
    ):
        sums = (estimate or {}).get("noise_sums")
        if sums:
            total = total + WeightedSums.of(sums)
    return total


def _detector_budget(settings: Settings) -> float:
    """The detectors' false alarms a week: the one budget less the slice alerts' share."""
    return detector_alarms_per_week(
        settings.false_alarms_per_week, settings.slice_false_alarm_share
    )


def _fresh_state(name: str, settings: Settings, n_segments: int) -> SignalState:
    detectors = budget_detectors(SIGNALS[name], budget_shares(n_segments, 0))
    budget = (_detector_budget(settings), detectors)
    # The ARL0 given here only stands until the first sample, when the rate takes over.
    arl0 = arl0_for_rate(budget[0], budget[1], 1.0)
    return SignalState(SIGNALS[name], arl0, settings.resolve_after_samples, budget)


def _load(
    session: Session, segment_id: int, row: DetectorState, settings: Settings, n_segments: int
) -> SignalState:
    """The stored state, or one rebuilt from history when it does not decode."""
    try:
        state = codec.loads(row.state)
        if not isinstance(state, SignalState) or state.signal != row.signal:
            raise codec.StateFormatError("stored state is for another signal")
    except codec.StateFormatError as exc:
        logger.warning(
            "rebuilding detector state from history",
            extra={"segment_id": segment_id, "signal": row.signal, "reason": str(exc)},
        )
        return _rebuild(session, segment_id, row, settings, n_segments)
    state.set_window(settings.resolve_after_samples)
    return state


def _rebuild(
    session: Session, segment_id: int, row: DetectorState, settings: Settings, n_segments: int
) -> SignalState:
    """A fresh state fed the signal's last :data:`REBUILD_ROWS` rows up to the watermark."""
    spec = SIGNALS[row.signal]
    state = _fresh_state(row.signal, settings, n_segments)
    if row.watermark <= 0:
        return state
    if spec.source == "verdicts":
        verdicts = _recent_verdicts(session, segment_id, row.watermark)
        if verdicts:
            _feed_verdicts(state, verdicts, settings, n_segments, silent=True)
        return state
    events = _recent_events(session, segment_id, row.watermark)
    if events:
        _feed_events(state, spec, events, settings, n_segments, silent=True)
    return state


_EVENT_COLUMNS = (
    TrafficEvent.id,
    TrafficEvent.occurred_at,
    TrafficEvent.is_cheap,
    TrafficEvent.latency_ms,
    TrafficEvent.escalated,
    TrafficEvent.status,
    TrafficEvent.refused,
    TrafficEvent.cost_usd,
    TrafficEvent.answer_checks,
)
# The quality detectors see only the base design's draws (issue 23): a verdict of an event
# taken only by the exploration draw is read with base_draw False (and skipped by
# quality_stream, while the watermark still passes it), and the others with the base design's
# own probability.
_VERDICT_COLUMNS = (
    Verdict.id,
    Verdict.event_pk,
    Verdict.kind,
    Verdict.winner,
    func.coalesce(SamplingDecision.base_probability, Verdict.inclusion_probability).label(
        "inclusion_probability"
    ),
    TrafficEvent.occurred_at,
    func.coalesce(SamplingDecision.base_draw, True).label("base_draw"),
)


def _recent_events(session: Session, segment_id: int, up_to: int) -> list[Any]:
    stmt = (
        select(*_EVENT_COLUMNS)
        .where(TrafficEvent.segment_id == segment_id, TrafficEvent.id <= up_to)
        .order_by(TrafficEvent.id.desc())
        .limit(REBUILD_ROWS)
    )
    return list(reversed(session.execute(stmt).all()))


def _recent_verdicts(session: Session, segment_id: int, up_to: int) -> list[Any]:
    stmt = (
        select(*_VERDICT_COLUMNS)
        .join(TrafficEvent, TrafficEvent.id == Verdict.event_pk)
        .outerjoin(SamplingDecision, SamplingDecision.event_pk == Verdict.event_pk)
        .where(Verdict.segment_id == segment_id, Verdict.id <= up_to)
        .order_by(Verdict.id.desc())
        .limit(REBUILD_ROWS)
    )
    return list(reversed(session.execute(stmt).all()))


def _new_events(
    session: Session, segment_id: int, after_id: int, limit: int, horizon: int | None
) -> list[Any]:
    stmt = (
        select(*_EVENT_COLUMNS)
        .where(TrafficEvent.segment_id == segment_id, TrafficEvent.id > after_id)
        .order_by(TrafficEvent.id)
        .limit(limit)
    )
    if horizon is not None:
        stmt = stmt.where(TrafficEvent.id <= horizon)
    return list(session.execute(stmt).all())


def _new_verdicts(session: Session, segment_id: int, after_id: int, limit: int) -> list[Any]:
    stmt = (
        select(*_VERDICT_COLUMNS)
        .join(TrafficEvent, TrafficEvent.id == Verdict.event_pk)
        .outerjoin(SamplingDecision, SamplingDecision.event_pk == Verdict.event_pk)
        .where(Verdict.segment_id == segment_id, Verdict.id > after_id)
        .order_by(Verdict.id)
        .limit(limit)
    )
    return list(session.execute(stmt).all())


def _drift_row(
    segment_id: int,
    signal: str,
    state: SignalState,
    detection: Detection,
    occurred: dict[int, Any],
) -> DriftEvent:
    details = dict(detection.details)
    when = occurred.get(detection.at_event_pk) if detection.at_event_pk is not None else None
    if when is not None:
        details["event_occurred_at"] = when.isoformat()
    details["sample_unit"] = SIGNALS[signal].samples
    return DriftEvent(
        segment_id=segment_id,
        signal=signal,
        detector=state.detector_name,
        at_event_pk=detection.at_event_pk,
        sample_index=detection.sample_index,
        before_mean=detection.before_mean,
        before_n=detection.before_n,
        after_mean=detection.after_mean,
        after_n=detection.after_n,
        statistic=detection.statistic,
        threshold=detection.threshold,
        details=details,
    )


def segments_with_new_data(session: Session, limit: int = 10_000) -> list[int]:
    """Segments with events or verdicts their detectors have not seen yet (drift.sweep's
    catch-up list), up to the event horizon, which it advances. Event and verdict watermarks
    are compared separately: they count different id sequences."""
    quality = [name for name, spec in SIGNALS.items() if spec.source == "verdicts"]
    is_quality = DetectorState.signal.in_(quality)
    marks = (
        select(
            DetectorState.segment_id.label("segment_id"),
            func.min(case((is_quality, None), else_=DetectorState.watermark)).label("events"),
            func.max(case((is_quality, DetectorState.watermark), else_=None)).label("verdicts"),
        )
        .group_by(DetectorState.segment_id)
        .subquery()
    )
    # Up to the horizon (advanced first, so the caller must commit): ids past it may still
    # be in flight.
    horizon = event_horizon.advance(session)
    new_events = (
        select(TrafficEvent.id)
        .where(
            TrafficEvent.segment_id == Segment.id,
            TrafficEvent.id > func.coalesce(marks.c.events, 0),
            *([] if horizon is None else [TrafficEvent.id <= horizon]),
        )
        .exists()
    )
    new_verdicts = (
        select(Verdict.id)
        .where(Verdict.segment_id == Segment.id, Verdict.id > func.coalesce(marks.c.verdicts, 0))
        .exists()
    )
    query = (
        select(Segment.id)
        .outerjoin(marks, marks.c.segment_id == Segment.id)
        .where(new_events | new_verdicts)
        .order_by(Segment.id)
        .limit(limit)
    )
    return list(session.execute(query).scalars())
