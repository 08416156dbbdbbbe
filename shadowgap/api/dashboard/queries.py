"""The dashboard's SQL: what each page reads, one function per question.

Model aliases mean one model each in this module: E events, V verdicts, S segments, A alerts.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import numpy as np
from sqlalchemy import Float, and_, case, cast, func, or_, select, true
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from shadowgap.alerts.pairs import compare_pair
from shadowgap.api.dashboard.charts import Series
from shadowgap.attribution.periods import Window, load_period
from shadowgap.attribution.tradeoff import tradeoff
from shadowgap.config import Settings, get_settings
from shadowgap.db import models
from shadowgap.db.scope import segment_in_scope
from shadowgap.db.verdict_sums import WEIGHTED, sum_columns
from shadowgap.drift.signals import SIGNALS, WHERE_FED
from shadowgap.enums import AlertStatus
from shadowgap.judging.factory import LLM_JUDGES, judge_name_for_segment, judges_on_embedded_model
from shadowgap.schemas import answer_display, last_user_text
from shadowgap.stats.excess_gap import WeightedSums, excess_gap
from shadowgap.worker.heartbeats import embedded_model_problems

E = models.TrafficEvent
V = models.Verdict
S = models.Segment
A = models.Alert

# Recent events per segment behind the overview's p95 (read through the (segment_id, id) index).
P95_LAST_EVENTS = 500
# Latency bucket edges (ms) for the sortable p95 estimate: log-spaced, 25% apart, 5 ms to 10 min.
P95_EDGES = [5.0 * 1.25**i for i in range(53)]
# The segment page never reads more than this many latencies; above it, a hashed sample.
LATENCY_POINTS = 20_000
SIGNAL_TITLES = {
    "routing_share": "Routing share (cheap)",
    "quality_gap": "Quality gap (excess over noise)",
    "latency": "Latency p95 (ms)",
    "error_rate": "Error / refusal rate",
    "escalation_rate": "Escalation rate",
    "cost_per_request": "Cost per request (USD)",
    "tool_call_invalid_rate": "Invalid tool calls (cheap)",
    "schema_invalid_rate": "JSON answers breaking the schema (cheap)",
    "truncation_rate": "Truncated answers (cheap)",
    "refusal_rate": "Refusals (cheap)",
}


def among(column: Any, matching: Any) -> ColumnElement[bool]:
    return true() if matching is None else column.in_(matching)


def page_in_sql(
    session: Session, matching: Any, name: str, descending: bool, limit: int, offset: int
) -> list[int]:
    open_counts = (
        select(A.segment_id, func.count().label("n"))
        .where(A.status != AlertStatus.RESOLVED)
        .group_by(A.segment_id)
        .subquery()
    )
    columns: dict[str, Any] = {
        "key": S.key,
        "volume": S.event_count,
        # Empty segments sort below every real share.
        "cheap_share": func.coalesce(
            cast(S.cheap_count, Float) / func.nullif(S.event_count, 0), -1.0
        ),
        "status": func.coalesce(open_counts.c.n, 0),
        "last_event": func.coalesce(S.last_seen_at, S.first_seen_at),
    }
    column = columns[name]
    query = (
        select(S.id)
        .outerjoin(open_counts, open_counts.c.segment_id == S.id)
        .where(among(S.id, matching))
        .order_by(column.desc() if descending else column.asc(), S.event_count.desc(), S.id)
        .limit(limit)
        .offset(offset)
    )
    return list(session.scalars(query))


def verdict_sums(
    session: Session, since: datetime, segment_ids: list[int] | None = None, matching: Any = None
) -> dict[tuple[int, str], WeightedSums]:
    """Weighted flagship-wins sums per (segment, kind) of the judged pairs whose events happened
    since ``since`` (event time, like every other view of the excess gap)."""
    query = (
        select(V.segment_id, V.kind, *sum_columns())
        .join(E, E.id == V.event_pk)
        .where(E.occurred_at >= since, V.kind.in_(("gap", "noise")), WEIGHTED)
        .group_by(V.segment_id, V.kind)
    )
    if segment_ids is not None:
        if not segment_ids:
            return {}
        query = query.where(V.segment_id.in_(segment_ids))
    else:
        query = query.where(among(V.segment_id, matching))
    return {(seg, kind): WeightedSums.of(values) for seg, kind, *values in session.execute(query)}


def noise_sums(session: Session, since: datetime) -> WeightedSums:
    """The deployment-wide noise floor: segments with few noise pairs borrow it."""
    query = (
        select(*sum_columns())
        .join(E, E.id == V.event_pk)
        .where(E.occurred_at >= since, V.kind == "noise", WEIGHTED)
    )
    return WeightedSums.of(session.execute(query).one())


def page_by_excess_gap(
    session: Session, matching: Any, since: datetime, noise: WeightedSums, descending: bool
) -> list[int]:
    sums = verdict_sums(session, since, matching=matching)
    scored = {}
    for seg_id in {seg for seg, _ in sums}:
        result = excess_gap(
            sums.get((seg_id, "gap"), WeightedSums()),
            sums.get((seg_id, "noise"), WeightedSums()),
            noise,
        )
        if result.excess is not None:
            scored[seg_id] = result.excess
    ranked = sorted(scored, key=lambda s: (scored[s], -s), reverse=descending)
    # Segments without judged pairs follow, busiest first.
    rest = session.scalars(
        select(S.id).where(among(S.id, matching)).order_by(S.event_count.desc(), S.id)
    )
    return ranked + [seg for seg in rest if seg not in scored]


def page_by_p95_estimate(
    session: Session, matching: Any, since: datetime, descending: bool
) -> list[int]:
    """Every matching segment ranked by a bucketed p95 of the window's latencies.

    One GROUP BY counts, per segment, the events above each log-spaced edge; the p95 lies in
    the first bucket whose tail holds at most 5%. Exact to 25%, which is enough to order by.
    """
    above = [func.sum(case((E.latency_ms > edge, 1), else_=0)) for edge in P95_EDGES]
    query = (
        select(E.segment_id, func.count(E.latency_ms), *above)
        .where(E.occurred_at >= since, among(E.segment_id, matching))
        .group_by(E.segment_id)
    )
    estimate: dict[int, float] = {}
    for seg_id, n, *tails in session.execute(query):
        if not n:
            continue
        limit = 0.05 * n
        index = next((i for i, tail in enumerate(tails) if (tail or 0) <= limit), len(tails) - 1)
        estimate[seg_id] = P95_EDGES[index]
    ranked = sorted(estimate, key=lambda s: (estimate[s], -s), reverse=descending)
    rest = session.scalars(
        select(S.id).where(among(S.id, matching)).order_by(S.event_count.desc(), S.id)
    )
    return ranked + [seg for seg in rest if seg not in estimate]


def recent_p95(session: Session, segment_id: int) -> float | None:
    values = session.scalars(
        select(E.latency_ms)
        .where(E.segment_id == segment_id, E.latency_ms.is_not(None))
        .order_by(E.id.desc())
        .limit(P95_LAST_EVENTS)
    ).all()
    return float(np.percentile(np.asarray(values, dtype=float), 95)) if values else None


def recent_tradeoff(session: Session, segment_id: int, excess: float | None) -> dict[str, Any]:
    """Cost saved vs quality lost vs p95 added per 1,000 requests, over the last events."""
    last = session.scalars(
        select(E.id)
        .where(E.segment_id == segment_id)
        .order_by(E.id.desc())
        .offset(P95_LAST_EVENTS - 1)
        .limit(1)
    ).first()
    return tradeoff(load_period(session, segment_id, Window(first_id=last)), excess)


def open_alerts(session: Session, segment_ids: list[int]) -> dict[int, list[models.Alert]]:
    if not segment_ids:
        return {}
    alerts: dict[int, list[models.Alert]] = {}
    query = (
        select(A)
        .where(A.segment_id.in_(segment_ids), A.status != AlertStatus.RESOLVED)
        .order_by(A.opened_at.desc())
    )
    for alert in session.scalars(query):
        alerts.setdefault(alert.segment_id, []).append(alert)
    return alerts


def fired_at(session: Session, drift: list[models.DriftEvent]) -> dict[int, tuple[str, datetime]]:
    """Drift event id -> (the sender's event_id, its event time) of the event it fired at."""
    pks = {d.at_event_pk for d in drift if d.at_event_pk is not None}
    if not pks:
        return {}
    rows = session.execute(select(E.id, E.event_id, E.occurred_at).where(E.id.in_(pks)))
    events = {pk: (event_id, occurred_at) for pk, event_id, occurred_at in rows}
    return {d.id: events[d.at_event_pk] for d in drift if d.at_event_pk in events}


def bucket_index(session: Session, column: Any, start: datetime, seconds: int) -> Any:
    """SQL for floor((column - start) / seconds), on PostgreSQL and SQLite."""
    if session.get_bind().dialect.name == "postgresql":
        return func.floor((func.extract("epoch", column) - start.timestamp()) / seconds)
    # SQLite keeps timestamps as text; julianday() reads them (days since 4714 BC).
    start_jd = start.timestamp() / 86400.0 + 2440587.5
    return func.floor((func.julianday(column) - start_jd) * 86400.0 / seconds)


def event_series(
    session: Session, segment_id: int, start: datetime, end: datetime, seconds: int
) -> list[Series]:
    index = bucket_index(session, E.occurred_at, start, seconds).label("b")
    window = and_(E.segment_id == segment_id, E.occurred_at >= start, E.occurred_at <= end)
    rows = session.execute(
        select(
            index,
            func.count(),
            func.sum(case((E.is_cheap, 1), else_=0)),
            func.sum(case((or_(E.status == "error", E.refused), 1), else_=0)),
            func.sum(case((E.escalated, 1), else_=0)),
            func.sum(E.cost_usd),
            func.count(E.cost_usd),
        )
        .where(window)
        .group_by(index)
        .order_by(index)
    ).all()
    t0 = start.timestamp()
    routing = Series("routing_share", SIGNAL_TITLES["routing_share"], unit="share")
    errors = Series("error_rate", SIGNAL_TITLES["error_rate"], unit="share")
    escalation = Series("escalation_rate", SIGNAL_TITLES["escalation_rate"], unit="share")
    cost = Series("cost_per_request", SIGNAL_TITLES["cost_per_request"], unit="usd")
    for b, n, cheap, err, esc, cost_sum, cost_n in rows:
        t = t0 + (float(b) + 0.5) * seconds
        routing.points.append((t, cheap / n))
        errors.points.append((t, (err or 0) / n))
        escalation.points.append((t, (esc or 0) / n))
        for s in (routing, errors, escalation):
            s.counts.append(int(n))
        if cost_n:
            cost.points.append((t, float(cost_sum) / cost_n))
            cost.counts.append(int(cost_n))
    latency = latency_series(session, segment_id, start, end, seconds, window)
    return [routing, latency, errors, escalation, cost]


def answer_defect_series(
    session: Session, segment_id: int, start: datetime, end: datetime, seconds: int
) -> list[Series]:
    """The answer-defect rates per bucket (the share of checked cheap answers with the defect),
    one series per signal that has any checked answer in the window. The values are the ones
    the detectors read (:mod:`shadowgap.drift.signals`); at most LATENCY_POINTS rows are read,
    a hashed sample above it."""
    window = and_(
        E.segment_id == segment_id,
        E.occurred_at >= start,
        E.occurred_at <= end,
        E.answer_checks.is_not(None),
    )
    index = bucket_index(session, E.occurred_at, start, seconds)
    query = select(index, E.answer_checks).where(window)
    n = session.scalar(select(func.count()).select_from(E).where(window)) or 0
    if n > LATENCY_POINTS:
        keep = max(1, int(65536 * LATENCY_POINTS / n))
        query = query.where((E.id * 40503) % 65536 < keep)
    counts: dict[str, dict[float, list[int]]] = {name: {} for name in WHERE_FED}
    for b, checks in session.execute(query):
        row = SimpleNamespace(answer_checks=checks)
        for name in WHERE_FED:
            value = SIGNALS[name].value(row)  # type: ignore[misc, arg-type]
            if value is not None:
                tally = counts[name].setdefault(float(b), [0, 0])
                tally[0] += int(value)
                tally[1] += 1
    t0 = start.timestamp()
    out: list[Series] = []
    for name in WHERE_FED:
        if not counts[name]:
            continue
        series = Series(name, SIGNAL_TITLES[name], unit="share")
        for b in sorted(counts[name]):
            ones, total = counts[name][b]
            series.points.append((t0 + (b + 0.5) * seconds, ones / total))
            series.counts.append(total)
        out.append(series)
    return out


def latency_series(
    session: Session, segment_id: int, start: datetime, end: datetime, seconds: int, window: Any
) -> Series:
    series = Series("latency", SIGNAL_TITLES["latency"], unit="ms")
    n = session.scalar(select(func.count(E.latency_ms)).where(window)) or 0
    index = bucket_index(session, E.occurred_at, start, seconds)
    query = select(index, E.latency_ms).where(window, E.latency_ms.is_not(None))
    if n > LATENCY_POINTS:
        # A deterministic hash of the id keeps about LATENCY_POINTS rows spread over time.
        keep = max(1, int(65536 * LATENCY_POINTS / n))
        query = query.where((E.id * 40503) % 65536 < keep)
    rows = session.execute(query).all()
    if not rows:
        return series
    data = np.asarray(rows, dtype=float)
    t0 = start.timestamp()
    for b in np.unique(data[:, 0]):
        values = data[data[:, 0] == b, 1]
        series.points.append((t0 + (b + 0.5) * seconds, float(np.percentile(values, 95))))
        series.counts.append(len(values))
    return series


def quality_series(
    session: Session, segment_id: int, start: datetime, end: datetime, seconds: int
) -> Series:
    """Excess gap per bucket with its 95% interval; buckets are merged until they hold 20 pairs.

    Judged pairs are a few percent of events, so the event buckets would mostly hold one or
    two pairs; merging keeps each point readable and its interval finite.
    """
    series = Series("quality_gap", SIGNAL_TITLES["quality_gap"], unit="share")
    index = bucket_index(session, E.occurred_at, start, seconds).label("b")
    rows = session.execute(
        select(index, V.kind, *sum_columns())
        .join(E, E.id == V.event_pk)
        .where(
            V.segment_id == segment_id,
            V.kind.in_(("gap", "noise")),
            WEIGHTED,
            E.occurred_at >= start,
            E.occurred_at <= end,
        )
        .group_by(index, V.kind)
        .order_by(index)
    ).all()
    per_bucket: dict[int, dict[str, WeightedSums]] = {}
    noise_total = WeightedSums()
    for b, kind, *values in rows:
        sums = WeightedSums.of(values)
        per_bucket.setdefault(int(b), {})[kind] = sums
        if kind == "noise":
            noise_total = noise_total + sums
    t0 = start.timestamp()
    gap, noise, first = WeightedSums(), WeightedSums(), None
    for b in sorted(per_bucket):
        first = b if first is None else first
        gap = gap + per_bucket[b].get("gap", WeightedSums())
        noise = noise + per_bucket[b].get("noise", WeightedSums())
        if gap.n < 20 and b != max(per_bucket):
            continue
        result = excess_gap(gap, noise, noise_total)
        if result.excess is not None:
            t = t0 + ((first + b) / 2 + 0.5) * seconds
            series.points.append((t, result.excess))
            series.band.append((t, result.ci_low or 0.0, result.ci_high or 0.0))
            series.counts.append(result.gap_pairs)
        gap, noise, first = WeightedSums(), WeightedSums(), None
    return series


def judge_unavailable(session: Session, segment_key: str) -> str | None:
    """Why this segment's judge cannot run, when it is an LLM judge on the embedded model and
    a live worker's self-check of that model failed."""
    settings = get_settings()
    name = judge_name_for_segment(segment_key, settings)
    if name not in LLM_JUDGES or not judges_on_embedded_model(settings):
        return None
    now = datetime.now(UTC)
    stale_after = timedelta(seconds=settings.worker_stale_seconds)
    problems = embedded_model_problems(session, now, stale_after)
    if not problems:
        return None
    return f"The {name} judge cannot run on the embedded model: {problems[0]}"


def examples(session: Session, segment_id: int, limit: int = 8) -> list[dict[str, Any]]:
    """Recent judged pairs, flagship wins first: prompt, both answers, the judge's rationale."""
    R = models.ShadowRun
    rows = session.execute(
        select(
            V,
            E.request,
            E.answer,
            E.answer_tool_calls,
            E.occurred_at,
            E.route_model,
            R.answer,
            R.answer_tool_calls,
        )
        .join(E, E.id == V.event_pk)
        .outerjoin(R, and_(R.event_pk == V.event_pk, R.replicate == 0))
        .where(V.segment_id == segment_id, V.kind == "gap")
        .order_by(case((V.winner == "flagship", 0), else_=1), V.id.desc())
        .limit(limit)
    ).all()
    return [
        {
            "at": occurred_at,
            "prompt": last_user_text((request or {}).get("messages"), only_user=True),
            "cheap_model": route_model,
            # A tool-call answer as its calls, name(arguments), one a line.
            "cheap_answer": answer_display(cheap_answer, cheap_calls) or "",
            "flagship_answer": answer_display(flagship_answer, flagship_calls) or "",
            "winner": verdict.winner,
            "judge": verdict.judge,
            "rationale": verdict.rationale,
            # Tool calls side by side with the differences the judge named (None for prose).
            "comparison": compare_pair(
                request, cheap_answer, cheap_calls, flagship_answer, flagship_calls, verdict.raw
            ),
        }
        for (
            verdict,
            request,
            cheap_answer,
            cheap_calls,
            occurred_at,
            route_model,
            flagship_answer,
            flagship_calls,
        ) in rows
    ]


def segment_changes(
    session: Session, segment: models.Segment, settings: Settings, limit: int = 20
) -> list[models.RouterChange]:
    """The recorded router changes whose scope holds this segment, newest first."""
    rows = session.scalars(
        select(models.RouterChange).order_by(models.RouterChange.at.desc()).limit(500)
    )
    configured = list(settings.segment_dimensions)
    found = [c for c in rows if segment_in_scope(segment.dimensions or {}, c.scope, configured)]
    return found[:limit]
