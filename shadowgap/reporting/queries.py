"""SQL for the weekly report: every aggregate is a GROUP BY segment, rows come back only as
bounded per-segment samples for the drift tests.

Each query covers both periods at once, tagging rows with ``cur`` (1 for the period under
report, 0 for the equally long period before it), so the table is scanned once per question.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import InstrumentedAttribute, Session
from sqlalchemy.sql.elements import ColumnElement

from shadowgap.db import models
from shadowgap.db.verdict_sums import WEIGHTED, sum_columns
from shadowgap.enums import EventStatus, RunStatus, VerdictKind, Winner
from shadowgap.stats.excess_gap import WeightedSums

E = models.TrafficEvent
V = models.Verdict

# Knuth's multiplicative constant over 2^16: a cheap, portable (SQLite and PostgreSQL) and
# deterministic hash of the id, so the same report rebuilt draws the same sample. Kept small
# so id * constant cannot overflow BIGINT.
_HASH_MULT = 40503
_HASH_MOD = 65536


@dataclass
class PeriodStats:
    """One segment in one period: event aggregates, judged-pair sums and flagship cost."""

    events: int = 0
    cheap_events: int = 0
    cheap_cost_usd: float = 0.0
    cost_usd: float = 0.0
    cost_n: int = 0
    flagship_events_cost_usd: float = 0.0
    flagship_events_cost_n: int = 0
    latency_sum: float = 0.0
    latency_n: int = 0
    errors: int = 0
    escalations: int = 0
    refusals: int = 0
    shadow_cost_usd: float = 0.0
    shadow_runs: int = 0
    gap: WeightedSums = field(default_factory=WeightedSums)
    noise: WeightedSums = field(default_factory=WeightedSums)

    def as_view(self) -> dict[str, Any]:
        return {
            "events": self.events,
            "cheap_events": self.cheap_events,
            "routing_share": _ratio(self.cheap_events, self.events),
            "latency_ms_mean": _ratio(self.latency_sum, self.latency_n),
            "cost_per_request_usd": _ratio(self.cost_usd, self.cost_n),
            "cheap_cost_usd": self.cheap_cost_usd,
            "error_rate": _ratio(self.errors, self.events),
            "escalation_rate": _ratio(self.escalations, self.events),
            "refusal_rate": _ratio(self.refusals, self.events),
        }


def _ratio(num: float, den: float) -> float | None:
    return num / den if den else None


def _flag(condition: ColumnElement[bool] | InstrumentedAttribute[bool]) -> ColumnElement[int]:
    return case((condition, 1), else_=0)


def _period(occurred_at: Any, since: datetime) -> ColumnElement[int]:
    return case((occurred_at >= since, 1), else_=0)


Stats = dict[tuple[int, int], PeriodStats]


def period_stats(session: Session, prev_since: datetime, since: datetime, until: datetime) -> Stats:
    """Aggregates keyed by (segment_id, cur) for events, verdicts and shadow-run cost."""
    stats: Stats = defaultdict(PeriodStats)
    in_range = and_(E.occurred_at >= prev_since, E.occurred_at < until)
    cur = _period(E.occurred_at, since).label("cur")
    rows = session.execute(
        select(
            E.segment_id,
            cur,
            func.count(),
            func.sum(_flag(E.is_cheap)),
            func.sum(case((E.is_cheap, func.coalesce(E.cost_usd, 0.0)), else_=0.0)),
            func.sum(E.cost_usd),
            func.count(E.cost_usd),
            func.sum(case((E.is_cheap, None), else_=E.cost_usd)),
            func.count(case((E.is_cheap, None), else_=E.cost_usd)),
            func.sum(E.latency_ms),
            func.count(E.latency_ms),
            # Refusals count as errors, as the error-rate detector counts them.
            func.sum(_flag(or_(E.status == EventStatus.ERROR, E.refused))),
            func.sum(_flag(E.escalated)),
            func.sum(_flag(E.refused)),
        )
        .where(in_range)
        .group_by(E.segment_id, cur)
    )
    for row in rows:
        s = stats[(row[0], row[1])]
        s.events, s.cheap_events = int(row[2]), int(row[3] or 0)
        s.cheap_cost_usd, s.cost_usd, s.cost_n = float(row[4] or 0), float(row[5] or 0), row[6]
        s.flagship_events_cost_usd, s.flagship_events_cost_n = float(row[7] or 0), int(row[8])
        s.latency_sum, s.latency_n = float(row[9] or 0), int(row[10])
        s.errors, s.escalations, s.refusals = (
            int(row[11] or 0),
            int(row[12] or 0),
            int(row[13] or 0),
        )
    _add_verdicts(session, stats, prev_since, since, until)
    _add_shadow_cost(session, stats, prev_since, since, until)
    return stats


def _add_verdicts(
    session: Session, stats: Stats, prev_since: datetime, since: datetime, until: datetime
) -> None:
    # The pair belongs to the period its event happened in, not the one it was judged in.
    cur = _period(E.occurred_at, since).label("cur")
    rows = session.execute(
        select(V.segment_id, cur, V.kind, *sum_columns())
        .join(E, E.id == V.event_pk)
        .where(
            V.kind.in_((VerdictKind.GAP, VerdictKind.NOISE)),
            WEIGHTED,
            E.occurred_at >= prev_since,
            E.occurred_at < until,
        )
        .group_by(V.segment_id, cur, V.kind)
    )
    for seg, is_cur, kind, *values in rows:
        sums = WeightedSums.of(values)
        if kind == VerdictKind.GAP:
            stats[(seg, is_cur)].gap = sums
        else:
            stats[(seg, is_cur)].noise = sums


def _add_shadow_cost(
    session: Session, stats: Stats, prev_since: datetime, since: datetime, until: datetime
) -> None:
    # Replicate 0 is the comparison run: what the flagship would have cost on the very prompts
    # the router sent cheap, the best estimate of the flagship's price for this traffic.
    R = models.ShadowRun
    cur = _period(E.occurred_at, since).label("cur")
    rows = session.execute(
        select(E.segment_id, cur, func.count(), func.sum(R.cost_usd))
        .join(E, E.id == R.event_pk)
        .where(
            R.replicate == 0,
            R.status == RunStatus.OK,
            E.occurred_at >= prev_since,
            E.occurred_at < until,
        )
        .group_by(E.segment_id, cur)
    )
    for seg, is_cur, n, usd in rows:
        stats[(seg, is_cur)].shadow_runs = int(n)
        stats[(seg, is_cur)].shadow_cost_usd = float(usd or 0)


def segment_keys(session: Session, segment_ids: Iterable[int]) -> dict[int, str]:
    ids = sorted(set(segment_ids))
    keys: dict[int, str] = {}
    # Chunked so that 10,000 segments never make one oversized IN list.
    for start in range(0, len(ids), 900):
        chunk = ids[start : start + 900]
        rows = session.execute(
            select(models.Segment.id, models.Segment.key).where(models.Segment.id.in_(chunk))
        )
        keys.update({seg_id: key for seg_id, key in rows})
    return keys


def alerts_in_period(
    session: Session, since: datetime, until: datetime, limit: int = 200
) -> dict[str, list[dict[str, Any]]]:
    """Alerts opened and alerts resolved within [since, until), newest first."""
    A = models.Alert
    out: dict[str, list[dict[str, Any]]] = {}
    for name, column in (("opened", A.opened_at), ("resolved", A.resolved_at)):
        rows = session.execute(
            select(A, models.Segment.key)
            .join(models.Segment, models.Segment.id == A.segment_id)
            .where(column >= since, column < until)
            .order_by(column.desc(), A.id.desc())
            .limit(limit)
        )
        out[name] = [
            {
                "id": alert.id,
                "segment_id": alert.segment_id,
                "segment": key,
                "signal": alert.signal,
                "severity": alert.severity,
                "status": alert.status,
                "opened_at": alert.opened_at.isoformat(),
                "resolved_at": alert.resolved_at.isoformat() if alert.resolved_at else None,
                "resolved_by": alert.resolved_by,
            }
            for alert, key in rows
        ]
    return out


def alert_counts(session: Session, since: datetime, until: datetime) -> dict[int, dict[str, int]]:
    """Per segment: alerts opened and resolved in the period (counts, not capped)."""
    A = models.Alert
    counts: dict[int, dict[str, int]] = defaultdict(lambda: {"opened": 0, "resolved": 0})
    for name, column in (("opened", A.opened_at), ("resolved", A.resolved_at)):
        rows = session.execute(
            select(A.segment_id, func.count())
            .where(column >= since, column < until)
            .group_by(A.segment_id)
        )
        for seg, n in rows:
            counts[seg][name] = int(n)
    return dict(counts)


def drift_event_counts(session: Session, since: datetime, until: datetime) -> dict[int, int]:
    D = models.DriftEvent
    rows = session.execute(
        select(D.segment_id, func.count())
        .where(D.detected_at >= since, D.detected_at < until)
        .group_by(D.segment_id)
    )
    return {seg: int(n) for seg, n in rows}


def event_samples(
    session: Session,
    counts: dict[int, tuple[int, int]],
    prev_since: datetime,
    since: datetime,
    until: datetime,
    limit: int,
    *,
    all_segments: bool = False,
) -> dict[int, pd.DataFrame]:
    """At most ``limit`` events per period of each segment in ``counts`` ({id: (n_prev, n_cur)}).

    One sequential pass over the period's rows (cheaper on both backends than a join the
    SQLite planner turns into per-segment index walks), keeping only the four measured columns.
    A deterministic hash of the id keeps about limit/n of each segment and period, so the same
    report rebuilt draws the same rows; each frame (cur, is_cheap, latency_ms, cost_usd) is
    then cut to exactly ``limit`` rows per period. ``all_segments`` says ``counts`` covers
    every segment with events, so no IN list is needed.
    """
    if not counts:
        return {}
    thresholds = {
        seg: (_threshold(n_prev, limit), _threshold(n_cur, limit))
        for seg, (n_prev, n_cur) in counts.items()
    }
    query = select(
        E.id,
        E.segment_id,
        _period(E.occurred_at, since).label("cur"),
        _flag(E.is_cheap).label("is_cheap"),
        E.latency_ms,
        E.cost_usd,
    ).where(E.occurred_at >= prev_since, E.occurred_at < until)
    ceiling = max(max(pair) for pair in thresholds.values())
    if ceiling < _HASH_MOD:
        # Every segment is sampled: let the database drop the rows no segment keeps.
        query = query.where((E.id * _HASH_MULT) % _HASH_MOD < ceiling)
    if not all_segments:
        query = query.where(E.segment_id.in_(sorted(counts)))
    columns = ["id", "segment_id", "cur", "is_cheap", "latency_ms", "cost_usd"]
    frame = _frame(session, query, columns)
    if frame.empty:
        return {}
    limits = pd.DataFrame(
        [(seg, prev, cur) for seg, (prev, cur) in thresholds.items()],
        columns=["segment_id", "thr_prev", "thr_cur"],
    ).set_index("segment_id")
    keep_at = np.where(
        frame["cur"].to_numpy() == 1,
        frame["segment_id"].map(limits["thr_cur"]).to_numpy(float),
        frame["segment_id"].map(limits["thr_prev"]).to_numpy(float),
    )
    bucket = (frame["id"].to_numpy().astype(np.int64) * _HASH_MULT) % _HASH_MOD
    frame = frame[bucket < keep_at]
    return {
        int(seg): _cap(part.drop(columns=["id", "segment_id"]), limit)
        for seg, part in frame.groupby("segment_id", sort=False)
    }


def gap_sample(
    session: Session, prev_since: datetime, since: datetime, until: datetime
) -> pd.DataFrame:
    """Every gap pair of both periods, all segments: segment_id, cur, gap (1 = flagship won).

    Judged pairs are a few percent of traffic, so one query fetches them all; the caller caps
    each segment and period.
    """
    cur = _period(E.occurred_at, since)
    query = (
        select(V.segment_id, cur.label("cur"), _flag(V.winner == Winner.FLAGSHIP).label("gap"))
        .join(E, E.id == V.event_pk)
        .where(V.kind == VerdictKind.GAP, E.occurred_at >= prev_since, E.occurred_at < until)
    )
    return _frame(session, query, ["segment_id", "cur", "gap"])


def _frame(session: Session, query: Any, columns: list[str]) -> pd.DataFrame:
    """A numeric result as a float frame, fast: up to a million rows come through here.

    The rows are read from the DBAPI cursor itself (SQLAlchemy's per-row Row objects cost more
    than the query) and converted by numpy in one call, where None becomes NaN. Every column
    selected here is a number, so nothing is lost.
    """
    result = session.connection().execute(query)
    try:
        rows = result.cursor.fetchall() if result.cursor is not None else []
    finally:
        result.close()
    array = np.array(rows, dtype=float).reshape(len(rows), len(columns))
    return pd.DataFrame(array, columns=columns)


def _threshold(n: int, limit: int) -> int:
    if n <= limit:
        return _HASH_MOD
    # 5% head-room so the hashed draw rarely falls short of the limit; _cap trims the excess.
    return max(1, min(_HASH_MOD, int(_HASH_MOD * limit * 1.05 / n) + 1))


def _cap(frame: pd.DataFrame, limit: int) -> pd.DataFrame:
    parts = []
    for _, part in frame.groupby("cur", sort=True):
        parts.append(part.sample(n=limit, random_state=0) if len(part) > limit else part)
    if not parts:
        return frame
    return pd.concat(parts, ignore_index=True)
