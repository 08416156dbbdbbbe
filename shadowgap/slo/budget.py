"""Every segment's SLO state, read from the database: budget, burn rates, the pairs' looks.

All windows end at the deployment's event-time watermark (:func:`shadowgap.db.watermark.
window_end`), so every process that reads the same rows computes the same numbers: the API's
``--workers 4`` processes agree on ``/metrics``, the dashboard and the weekly report agree with
the alerts. One grouped query per distinct window length reads the judged pairs of all
segments at once (a few queries whatever the number of segments).

Public functions (the proposals and the views read these):

- :func:`slo_statuses` -- :class:`SegmentSlo` of every segment with judged pairs in the SLO
  window (or of the given ones);
- :func:`burning_scopes` -- the segments whose budget burns now (a burn-rate pair fires).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shadowgap.config import Settings, get_settings
from shadowgap.db import models
from shadowgap.db.verdict_sums import WEIGHTED, sum_columns
from shadowgap.db.watermark import window_end
from shadowgap.drift.signals import WHERE_FED
from shadowgap.enums import VerdictKind
from shadowgap.slo.objectives import objective_for
from shadowgap.slo.rules import (
    PairOutcome,
    WindowPairs,
    firing,
    look,
    share_per_week,
    window_lengths,
)
from shadowgap.stats.excess_gap import WeightedSums
from shadowgap.stats.slo import Budget, Burn, budget, burn

E = models.TrafficEvent
V = models.Verdict


@dataclass(frozen=True)
class SegmentSlo:
    """One segment's SLO at ``end``: its objective, the SLO window's burn and budget, and the
    burn-rate pairs' looks."""

    segment_id: int
    key: str
    objective: float
    window_days: float
    end: datetime
    window: Burn
    budget: Budget
    pairs: list[PairOutcome] = field(default_factory=list)

    @property
    def burning(self) -> list[PairOutcome]:
        return firing(self.pairs)

    @property
    def burn_rate(self) -> float | None:
        """The slow pair's long-window burn rate: 'how fast now', the number to rank by."""
        slow = max(self.pairs, key=lambda outcome: outcome.pair.long_days, default=None)
        return slow.long.rate if slow is not None else self.window.rate

    def to_json(self) -> dict[str, object]:
        """The state as shown by the API, the alert evidence and the report."""
        return {
            "objective": self.objective,
            "window_days": self.window_days,
            "window_end": self.end.isoformat(),
            "excess": self.window.excess,
            "excess_ci": _pair(self.window.ci_low, self.window.ci_high),
            "pairs_judged": self.window.pairs,
            "burn_rate": self.window.rate,
            "budget": {
                "cheap_requests": self.budget.cheap_requests,
                "allowed_excess_wins": self.budget.allowed,
                "spent_excess_wins": self.budget.spent,
                "spent_interval": list(self.budget.spent_interval)
                if self.budget.spent_interval
                else None,
                "remaining": self.budget.remaining,
            },
            "windows": [
                {
                    "pair": o.pair.name,
                    "long_days": o.pair.long_days,
                    "short_days": o.pair.short_days,
                    "threshold": o.pair.threshold,
                    "long_burn_rate": o.long.rate,
                    "long_burn_interval": list(o.long.rate_interval)
                    if o.long.rate_interval
                    else None,
                    "long_pairs": o.long.pairs,
                    "short_burn_rate": o.short.rate,
                    "short_pairs": o.short.pairs,
                    "z": o.z,
                    "z_critical": o.z_critical,
                    "fires": o.fires,
                }
                for o in self.pairs
            ],
        }


def _pair(low: float | None, high: float | None) -> list[float] | None:
    return None if low is None or high is None else [low, high]


def _sums(
    session: Session, start: datetime, end: datetime, segment_ids: list[int] | None
) -> tuple[dict[tuple[int, str], WeightedSums], WeightedSums]:
    """Weighted sums per (segment, kind) of the pairs whose events happened in [start, end),
    and the deployment's noise pairs (the floor small segments borrow)."""
    query = (
        select(V.segment_id, V.kind, *sum_columns())
        .join(E, E.id == V.event_pk)
        .where(
            E.occurred_at >= start,
            E.occurred_at < end,
            V.kind.in_((VerdictKind.GAP, VerdictKind.NOISE)),
            WEIGHTED,
        )
        .group_by(V.segment_id, V.kind)
    )
    if segment_ids is not None:
        query = query.where(V.segment_id.in_(segment_ids))
    per_segment = {
        (seg, str(kind)): WeightedSums.of(values) for seg, kind, *values in session.execute(query)
    }
    noise_query = (
        select(*sum_columns())
        .join(E, E.id == V.event_pk)
        .where(E.occurred_at >= start, E.occurred_at < end, V.kind == VerdictKind.NOISE, WEIGHTED)
    )
    return per_segment, WeightedSums.of(session.execute(noise_query).one())


def _cheap_requests(
    session: Session, start: datetime, end: datetime, segment_ids: Iterable[int]
) -> dict[int, int]:
    ids = list(segment_ids)
    if not ids:
        return {}
    query = (
        select(E.segment_id, func.count())
        .where(E.occurred_at >= start, E.occurred_at < end, E.is_cheap.is_(True))
        .where(E.segment_id.in_(ids))
        .group_by(E.segment_id)
    )
    return {seg: int(count) for seg, count in session.execute(query)}


def slo_share_counts(session: Session) -> tuple[int, int]:
    """What the false-alarm budget is split over: the segments, and the answer-defect
    detectors fed so far (:func:`shadowgap.drift.signals.budget_shares`)."""
    n_segments = session.scalar(select(func.count()).select_from(models.Segment)) or 0
    fed = (
        session.scalar(
            select(func.count())
            .select_from(models.DetectorState)
            .where(models.DetectorState.signal.in_(WHERE_FED), models.DetectorState.n_updates > 0)
        )
        or 0
    )
    return int(n_segments), int(fed)


def slo_share(session: Session, settings: Settings) -> float:
    """A segment's quality SLO share of the false-alarm budget (alarms a week), see
    :data:`shadowgap.drift.signals.SLO_SHARE`."""
    return share_per_week(settings.false_alarms_per_week, *slo_share_counts(session))


def slo_statuses(
    session: Session,
    now: datetime | None = None,
    settings: Settings | None = None,
    segment_ids: list[int] | None = None,
) -> list[SegmentSlo]:
    """The SLO of every segment with judged pairs in the SLO window (or of ``segment_ids``),
    at the watermark; ordered by segment id."""
    settings = settings or get_settings()
    end = window_end(session, now)
    lengths = window_lengths(settings.slo_window_days)
    sums = {days: _sums(session, end - timedelta(days=days), end, segment_ids) for days in lengths}
    window_sums, window_noise = sums[settings.slo_window_days]
    ids = sorted(
        set(segment_ids)
        if segment_ids is not None
        else {seg for seg, kind in window_sums if kind == VerdictKind.GAP}
    )
    if not ids:
        return []
    rows = session.execute(
        select(models.Segment.id, models.Segment.key).where(models.Segment.id.in_(ids))
    )
    keys: dict[int, str] = {seg: key for seg, key in rows}
    start = end - timedelta(days=settings.slo_window_days)
    cheap = _cheap_requests(session, start, end, ids)
    share = slo_share(session, settings)
    looks_per_week = 168.0 / settings.slo_look_hours
    empty = WeightedSums()

    def pairs_of(days: float, seg: int) -> WindowPairs:
        per_segment, noise = sums[days]
        return WindowPairs(
            per_segment.get((seg, "gap"), empty), per_segment.get((seg, "noise"), empty), noise
        )

    out = []
    for seg in ids:
        if seg not in keys:
            continue
        objective = objective_for(settings, keys[seg])
        whole = pairs_of(settings.slo_window_days, seg)
        window = burn(whole.gap, whole.noise, window_noise, objective)
        windows = {days: pairs_of(days, seg) for days in lengths}
        outcomes = look(windows, objective, share, looks_per_week)
        out.append(
            SegmentSlo(
                segment_id=seg,
                key=keys[seg],
                objective=objective,
                window_days=settings.slo_window_days,
                end=end,
                window=window,
                budget=budget(window, cheap.get(seg, 0)),
                pairs=outcomes,
            )
        )
    return out


@dataclass(frozen=True)
class BurningScope:
    """A segment whose SLO budget burns: what a router change proposal starts from."""

    segment_id: int
    key: str
    objective: float
    burn_rate: float | None
    budget_remaining: float | None
    pairs: tuple[str, ...]  # the pairs that fire (fast, slow)


def burning_scopes(
    session: Session, now: datetime | None = None, settings: Settings | None = None
) -> list[BurningScope]:
    """The segments whose budget burns at the watermark (a burn-rate pair fires), fastest
    first."""
    scopes = [
        BurningScope(
            segment_id=status.segment_id,
            key=status.key,
            objective=status.objective,
            burn_rate=status.burn_rate,
            budget_remaining=status.budget.remaining,
            pairs=tuple(o.pair.name for o in status.burning),
        )
        for status in slo_statuses(session, now, settings)
        if status.burning
    ]
    return sorted(scopes, key=lambda s: -(s.burn_rate or 0.0))
