"""Every segment's latency and error-rate SLOs, counted from its events.

**Which requests.** Both objectives count every request of the segment, whatever its route:
they are the promise to the users, who wait for the flagship-routed requests too. (The
latency *detector* watches the cheap path alone, so that a routing wobble does not read as a
latency change; a routing change that sends more requests to a slower model does spend the
users' latency budget, so the SLO counts it.)

- **Latency**: the event's ``latency_ms``, the end-to-end time the sender reports, which for
  a cascade includes the escalation: the time the user waited. A request is slow past the
  segment's threshold. Failed requests are not counted here (the error-rate objective counts
  them: one cause, one budget), nor are events without a latency.
- **Error rate**: the ``error_rate`` signal's definition
  (:func:`shadowgap.drift.signals.error_value`): an error, or a refusal the refusal detector
  does not watch. :func:`error_clause` is that definition as SQL, so that a look counts in
  the database; ``tests/slo/test_requests.py`` holds the two to the same rows.

**Counts.** The segment counters of :mod:`shadowgap.db.segment_counts` are totals since the
first event, with no latency or error split, so they cannot serve a rolling window. Each look
runs one grouped query over the events of its longest window, with one conditional sum per
window length (and per distinct latency threshold: the default and each override's), whatever
the number of segments. All windows end at the event-time watermark, so every process reading
the same rows answers the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, or_, select
from sqlalchemy.orm import Session

from shadowgap.config import Settings, get_settings
from shadowgap.db import models
from shadowgap.db.watermark import window_end
from shadowgap.drift.signals import REQUEST_SLO_SHARE
from shadowgap.enums import EventStatus
from shadowgap.slo.budget import slo_share_counts
from shadowgap.slo.objectives import (
    RequestObjective,
    error_objective_for,
    latency_objective_for,
)
from shadowgap.slo.request_rules import (
    CountOutcome,
    firing,
    look,
    request_window_lengths,
    window_label,
)
from shadowgap.slo.rules import share_per_week
from shadowgap.stats.slo import CountBudget, CountBurn, count_budget, count_burn

E = models.TrafficEvent


def error_clause() -> ColumnElement[bool]:
    """:func:`shadowgap.drift.signals.error_value` as SQL: an error, or a refusal whose
    answer the refusal detector does not check (no ``answer_checks.refusal``)."""
    unchecked = E.answer_checks["refusal"].as_string().is_(None)
    return or_(E.status == EventStatus.ERROR, and_(E.refused.is_(True), unchecked))


@dataclass(frozen=True)
class RequestSlo:
    """One objective of one segment at ``end``: the SLO window's counts and budget, and the
    burn-rate pairs' looks."""

    segment_id: int
    key: str
    objective: RequestObjective
    window_days: float
    end: datetime
    window: CountBurn | None  # None when the look did not read the SLO window
    pairs: list[CountOutcome] = field(default_factory=list)

    @property
    def kind(self) -> str:
        return self.objective.kind

    @property
    def budget(self) -> CountBudget | None:
        return None if self.window is None else count_budget(self.window)

    @property
    def burning(self) -> list[CountOutcome]:
        return firing(self.pairs)

    @property
    def burn_rate(self) -> float | None:
        """The budget pair's long-window (3 d) burn rate: 'how fast now', to rank by."""
        slowest = max(self.pairs, key=lambda o: o.pair.long_days)
        return slowest.long.rate

    def to_json(self) -> dict[str, Any]:
        """The state as the alert evidence and the report show it."""
        budget = self.budget
        return {
            "objective_kind": self.kind,
            "objective": self.objective.allowed,
            "target": self.objective.target,
            "threshold_ms": self.objective.threshold_ms,
            "window_days": self.window_days,
            "window_end": self.end.isoformat(),
            "requests": None if self.window is None else self.window.requests,
            "bad_requests": None if self.window is None else self.window.bad,
            "burn_rate": None if self.window is None else self.window.rate,
            "budget": None
            if budget is None
            else {
                "requests": budget.requests,
                "allowed_bad_requests": budget.allowed,
                "spent_bad_requests": budget.spent,
                "remaining": budget.remaining,
            },
            "windows": [
                {
                    "pair": o.pair.name,
                    "long": window_label(o.pair.long_days),
                    "short": window_label(o.pair.short_days),
                    "long_days": o.pair.long_days,
                    "threshold": o.pair.threshold,
                    "long_burn_rate": o.long.rate,
                    "long_requests": o.long.requests,
                    "long_bad_requests": o.long.bad,
                    "short_burn_rate": o.short.rate,
                    "short_requests": o.short.requests,
                    "p_value": o.p_value,
                    "alpha": o.alpha,
                    "fires": o.fires,
                }
                for o in self.pairs
            ],
        }


@dataclass(frozen=True)
class _Counts:
    requests: int  # every event (the error objective's denominator)
    errors: int
    timed: int  # events with a latency that did not fail (the latency objective's)
    slow: dict[float, int]  # by threshold (ms)


def _counts(
    session: Session,
    end: datetime,
    lengths: list[float],
    thresholds: list[float],
    segment_ids: list[int] | None,
) -> dict[float, dict[int, _Counts]]:
    """Per window length and segment: requests, errors, timed requests, slow ones by
    threshold; one grouped query over the longest window (module doc)."""
    failed = error_clause()
    timed = and_(E.latency_ms.is_not(None), ~failed)
    columns = []
    for days in lengths:
        inside = E.occurred_at >= end - timedelta(days=days)
        columns.append(func.count(case((inside, 1))))
        columns.append(func.count(case((and_(inside, failed), 1))))
        columns.append(func.count(case((and_(inside, timed), 1))))
        for threshold in thresholds:
            columns.append(func.count(case((and_(inside, timed, E.latency_ms > threshold), 1))))
    query = (
        select(E.segment_id, *columns)
        .where(E.occurred_at >= end - timedelta(days=max(lengths)), E.occurred_at < end)
        .group_by(E.segment_id)
    )
    if segment_ids is not None:
        query = query.where(E.segment_id.in_(segment_ids))
    out: dict[float, dict[int, _Counts]] = {days: {} for days in lengths}
    width = 3 + len(thresholds)
    for segment_id, *values in session.execute(query):
        for index, days in enumerate(lengths):
            row = [int(v or 0) for v in values[index * width : (index + 1) * width]]
            out[days][int(segment_id)] = _Counts(
                row[0], row[1], row[2], dict(zip(thresholds, row[3:], strict=True))
            )
    return out


def _burn(objective: RequestObjective, counts: _Counts | None) -> CountBurn:
    if counts is None:
        return count_burn(objective.allowed, 0, 0)
    if objective.kind == "error":
        return count_burn(objective.allowed, counts.errors, counts.requests)
    assert objective.threshold_ms is not None
    return count_burn(objective.allowed, counts.slow[objective.threshold_ms], counts.timed)


def request_share(session: Session, settings: Settings) -> float:
    """One request objective's share of the false-alarm budget (alarms a week), see
    :data:`shadowgap.drift.signals.REQUEST_SLO_SHARE`."""
    n_segments, fed = slo_share_counts(session)
    return share_per_week(settings.false_alarms_per_week, n_segments, fed, REQUEST_SLO_SHARE)


def request_slo_statuses(
    session: Session,
    now: datetime | None = None,
    settings: Settings | None = None,
    segment_ids: list[int] | None = None,
    with_window: bool = True,
) -> list[RequestSlo]:
    """The latency and error-rate SLOs (two per segment, latency first) of every segment with
    events in the windows read (or of ``segment_ids``), at the watermark, by segment id.

    ``with_window=False`` (the alert look) reads only the burn-rate pairs' windows (3 days at
    most) and leaves the SLO window's counts and budget out: the look runs every few minutes,
    the SLO window is weeks of every event."""
    settings = settings or get_settings()
    end = window_end(session, now)
    lengths = sorted(
        request_window_lengths() | ({settings.slo_window_days} if with_window else set())
    )
    segments = select(models.Segment.id, models.Segment.key)
    if segment_ids is not None:
        segments = segments.where(models.Segment.id.in_(segment_ids))
    rows = session.execute(segments)
    keys: dict[int, str] = {int(seg): key for seg, key in rows}
    objectives = {
        seg: (latency_objective_for(settings, key), error_objective_for(settings, key))
        for seg, key in keys.items()
    }
    thresholds = sorted(
        {lat.threshold_ms for lat, _ in objectives.values() if lat.threshold_ms is not None}
    )
    counts = _counts(session, end, lengths, thresholds, segment_ids)
    ids = sorted(
        set(segment_ids)
        if segment_ids is not None
        else {seg for per_length in counts.values() for seg in per_length}
    )
    share = request_share(session, settings)
    looks_per_week = 7 * 1440.0 / settings.slo_request_look_minutes
    out = []
    for seg in ids:
        if seg not in keys:
            continue
        for objective in objectives[seg]:
            windows = {
                days: _burn(objective, counts[days].get(seg)) for days in request_window_lengths()
            }
            whole = (
                _burn(objective, counts[settings.slo_window_days].get(seg)) if with_window else None
            )
            out.append(
                RequestSlo(
                    segment_id=seg,
                    key=keys[seg],
                    objective=objective,
                    window_days=settings.slo_window_days,
                    end=end,
                    window=whole,
                    pairs=look(windows, share, looks_per_week),
                )
            )
    return out
