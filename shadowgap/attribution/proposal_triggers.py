"""Which segments get a routing proposal: the one trigger, kept in one function.

Today a segment qualifies when, over the proposal window, its excess gap breaks
``target_excess_gap`` with the recommendation's one-sided confidence (the 90% lower bound of
:func:`shadowgap.stats.excess_gap.excess_gap` is above the target), or when its quality budget
burns: an unresolved ``slo_burn`` alert (shadowgap.slo), or an unresolved ``quality_gap`` alert
(an SLO burn found while that alert is open is folded into it, so it stands for both). The
alerts are read rather than ``shadowgap.slo.budget`` called because the SLO layer sits above
attribution (ARCHITECTURE.md), and the alert is the burn after the SLO's own noise control.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from shadowgap.attribution.periods import Window
from shadowgap.attribution.thresholds import ONE_SIDED_CONFIDENCE
from shadowgap.db.models import Alert, Segment, TrafficEvent, Verdict
from shadowgap.db.verdict_sums import WEIGHTED, sum_columns
from shadowgap.enums import AlertStatus, VerdictKind
from shadowgap.stats.excess_gap import ExcessGap, WeightedSums, excess_gap, one_sided_bound

QUALITY_SIGNALS = ("quality_gap", "slo_burn")


@dataclass
class Trigger:
    segment_id: int
    segment_key: str
    dimensions: dict[str, Any]
    gap: ExcessGap
    reasons: list[str] = field(default_factory=list)


def _sums_by_segment(
    session: Session, kind: VerdictKind, window: Window, segment_id: int | None
) -> dict[int, WeightedSums]:
    E, V = TrafficEvent, Verdict
    query = (
        select(V.segment_id, *sum_columns())
        .join(E, E.id == V.event_pk)
        .where(V.kind == kind, WEIGHTED)
        .group_by(V.segment_id)
    )
    if window.start is not None:
        query = query.where(E.occurred_at >= window.start)
    if window.end is not None:
        query = query.where(E.occurred_at < window.end)
    if segment_id is not None:
        query = query.where(V.segment_id == segment_id)
    return {row[0]: WeightedSums.of(row[1:]) for row in session.execute(query)}


def burning_segments(
    session: Session, window: Window, target: float, *, segment_id: int | None = None
) -> list[Trigger]:
    """The segments that get a proposal (all, or only ``segment_id``), worst gap first."""
    gaps = _sums_by_segment(session, VerdictKind.GAP, window, segment_id)
    noise = _sums_by_segment(session, VerdictKind.NOISE, window, None)
    global_noise = sum(noise.values(), WeightedSums())
    alerts_query = select(Alert.segment_id, Alert.id, Alert.signal).where(
        Alert.signal.in_(QUALITY_SIGNALS), Alert.status != AlertStatus.RESOLVED
    )
    if segment_id is not None:
        alerts_query = alerts_query.where(Alert.segment_id == segment_id)
    open_alerts: dict[int, list[tuple[int, str]]] = {}
    for seg, alert_id, signal in session.execute(alerts_query):
        open_alerts.setdefault(seg, []).append((alert_id, signal))
    triggers: dict[int, list[str]] = {}
    estimates: dict[int, ExcessGap] = {}
    for seg in set(gaps) | set(open_alerts):
        gap = excess_gap(
            gaps.get(seg, WeightedSums()), noise.get(seg, WeightedSums()), global_noise
        )
        estimates[seg] = gap
        reasons = []
        lower = one_sided_bound(gap, ONE_SIDED_CONFIDENCE, upper=False)
        if lower is not None and lower > target:
            reasons.append(
                f"excess gap {gap.excess:.1%} (90% lower bound {lower:.1%}) breaks the "
                f"target {target:.1%}"
            )
        reasons.extend(
            f"open {signal} alert #{a}" for a, signal in sorted(open_alerts.get(seg, []))
        )
        if reasons:
            triggers[seg] = reasons
    if not triggers:
        return []
    segments = session.execute(
        select(Segment.id, Segment.key, Segment.dimensions).where(Segment.id.in_(triggers))
    ).all()
    found = [
        Trigger(seg, key, dict(dimensions or {}), estimates[seg], triggers[seg])
        for seg, key, dimensions in segments
    ]
    return sorted(found, key=lambda t: -(t.gap.excess or 0.0))
