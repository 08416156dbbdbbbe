"""The dashboard: server-rendered HTML pages over the same tables as the JSON API.

Pages: segment overview (``/``), one segment's signals over time (``/segments/{key}``), alerts
with ack/resolve buttons (``/alerts``, calling the JSON API), and the weekly reports
(``/reports``, ``/reports/{id}`` serving the stored HTML). Charts are inline SVG drawn here, so
pages need no script or network to show data; ``static/dashboard.js`` only adds the alert
buttons and hover read-outs.

Speed with 10,000 segments: the overview pages in SQL (LIMIT/OFFSET over the ``segments``
counters) and computes the expensive columns -- excess gap with its interval, p95 latency --
only for the rows on the page, p95 from each segment's last events through the
``(segment_id, id)`` index. Sorting by those columns needs them for every matching segment:
excess gap is one GROUP BY over the window's verdicts, p95 a bucketed estimate from one
GROUP BY over the window's events.

This module must not import evidently, celery or llama_cpp: reports are read as stored HTML.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode

import numpy as np
from fastapi import APIRouter, Depends, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, HTMLResponse, Response
from markupsafe import Markup, escape
from sqlalchemy import Float, and_, case, cast, func, or_, select, true
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from shadowgap.api import audit
from shadowgap.api.auth.access import require_read_page
from shadowgap.api.auth.security import REPORT_CSP
from shadowgap.api.dashboard.charts import threshold_chart
from shadowgap.api.dashboard.templating import templates
from shadowgap.api.deps import db_session
from shadowgap.attribution.explain import attribute_change
from shadowgap.attribution.periods import Window, load_period
from shadowgap.attribution.thresholds import what_if
from shadowgap.attribution.tradeoff import tradeoff
from shadowgap.config import get_settings
from shadowgap.db import models
from shadowgap.db.verdict_sums import WEIGHTED, sum_columns
from shadowgap.drift.store import segment_signal_views
from shadowgap.judging.coverage import judge_coverage
from shadowgap.judging.factory import LLM_JUDGES, judge_name_for_segment, judges_on_embedded_model
from shadowgap.llm.factory import reverse_shadow_problem
from shadowgap.schemas import INT4_MAX
from shadowgap.stats.excess_gap import WeightedSums, excess_gap
from shadowgap.worker.heartbeats import embedded_model_problems

router = APIRouter(include_in_schema=False)
# Report ids are int4: a larger one is a 422 naming the parameter, not a database error.
ReportId = Annotated[int, PathParam(ge=0, le=INT4_MAX)]
DbSession = Annotated[Session, Depends(db_session)]

HERE = Path(__file__).resolve().parent
ReadPage = Depends(require_read_page)
STATIC_FILES = {"dashboard.css": "text/css", "dashboard.js": "text/javascript"}

E = models.TrafficEvent
V = models.Verdict
S = models.Segment
A = models.Alert

# Recent events per segment behind the overview's p95 (read through the (segment_id, id) index).
P95_LAST_EVENTS = 500
PER_PAGE = 50
MAX_PER_PAGE = 200
# Latency bucket edges (ms) for the sortable p95 estimate: log-spaced, 25% apart, 5 ms to 10 min.
P95_EDGES = [5.0 * 1.25**i for i in range(53)]
# The segment page never reads more than this many latencies; above it, a hashed sample.
LATENCY_POINTS = 20_000
BUCKET_CHOICES = [300, 900, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400]
MAX_BUCKETS = 180
SORTS = ("key", "volume", "cheap_share", "excess_gap", "p95", "status", "last_event")
SIGNAL_TITLES = {
    "routing_share": "Routing share (cheap)",
    "quality_gap": "Quality gap (excess over noise)",
    "latency": "Latency p95 (ms)",
    "error_rate": "Error / refusal rate",
    "escalation_rate": "Escalation rate",
    "cost_per_request": "Cost per request (USD)",
}


# --- overview ------------------------------------------------------------------------------


@router.get("/", response_class=HTMLResponse, dependencies=[ReadPage])
def overview(
    request: Request,
    session: DbSession,
    q: str | None = Query(default=None, max_length=512, description="substring of the key"),
    sort: str = Query(default="-volume", pattern=f"^-?({'|'.join(SORTS)})$"),
    page: int = Query(default=1, ge=1),
    per_page: int = Query(default=PER_PAGE, ge=1, le=MAX_PER_PAGE),
    days: int = Query(default=7, ge=1, le=90),
) -> Response:
    now = datetime.now(UTC)
    since = now - timedelta(days=days)
    name, descending = sort.lstrip("-"), sort.startswith("-")
    # None means every segment: no IN (SELECT ...) for the planner to wade through.
    matching = select(S.id).where(S.key.contains(q, autoescape=True)) if q else None
    counted = select(func.count()).select_from(S)
    total = session.scalar(counted if matching is None else counted.where(S.id.in_(matching)))
    total = int(total or 0)
    pages = max(1, math.ceil(total / per_page))
    page = min(page, pages)
    offset = (page - 1) * per_page
    global_noise = _noise_sums(session, since)

    if name == "excess_gap":
        ids = _page_by_excess_gap(session, matching, since, global_noise, descending)
        page_ids = ids[offset : offset + per_page]
    elif name == "p95":
        ids = _page_by_p95_estimate(session, matching, since, descending)
        page_ids = ids[offset : offset + per_page]
    else:
        page_ids = _page_in_sql(session, matching, name, descending, per_page, offset)

    segments = {s.id: s for s in session.scalars(select(S).where(S.id.in_(page_ids)))}
    gaps = _verdict_sums(session, since, page_ids)
    open_alerts = _open_alerts(session, page_ids)
    rows = []
    for seg_id in page_ids:
        segment = segments[seg_id]
        gap = excess_gap(
            gaps.get((seg_id, "gap"), WeightedSums()),
            gaps.get((seg_id, "noise"), WeightedSums()),
            global_noise,
        )
        alerts = open_alerts.get(seg_id, [])
        rows.append(
            {
                "key": segment.key,
                "href": _segment_href(segment.key),
                "volume": segment.event_count,
                "cheap_share": segment.cheap_count / segment.event_count
                if segment.event_count
                else None,
                "gap": gap,
                "p95": _recent_p95(session, seg_id),
                "tradeoff": _recent_tradeoff(session, seg_id, gap.excess),
                "alerts": alerts,
                "last_seen_at": segment.last_seen_at,
            }
        )
    params = {"q": q or "", "sort": sort, "per_page": per_page, "days": days}
    return templates.TemplateResponse(
        request,
        "overview.html",
        {
            "title": "Segments",
            "nav": "segments",
            "rows": rows,
            "total": total,
            "page": page,
            "pages": pages,
            "q": q or "",
            "sort": sort,
            "days": days,
            "per_page": per_page,
            "sort_links": {col: _sort_link(params, col, sort) for col in SORTS},
            "page_link": lambda n: "?" + urlencode({**params, "page": n}),
            "noise": global_noise,
        },
    )


def _among(column: Any, matching: Any) -> ColumnElement[bool]:
    return true() if matching is None else column.in_(matching)


def _sort_link(params: dict[str, Any], column: str, current: str) -> str:
    # Clicking the active column flips it; a new column starts descending, except the key.
    if current.lstrip("-") == column:
        target = column if current.startswith("-") else f"-{column}"
    else:
        target = column if column == "key" else f"-{column}"
    return "?" + urlencode({**params, "sort": target, "page": 1})


def _page_in_sql(
    session: Session, matching: Any, name: str, descending: bool, limit: int, offset: int
) -> list[int]:
    open_counts = (
        select(A.segment_id, func.count().label("n"))
        .where(A.status != "resolved")
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
        .where(_among(S.id, matching))
        .order_by(column.desc() if descending else column.asc(), S.event_count.desc(), S.id)
        .limit(limit)
        .offset(offset)
    )
    return list(session.scalars(query))


def _verdict_sums(
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
        query = query.where(_among(V.segment_id, matching))
    return {(seg, kind): WeightedSums.of(values) for seg, kind, *values in session.execute(query)}


def _noise_sums(session: Session, since: datetime) -> WeightedSums:
    """The deployment-wide noise floor: segments with few noise pairs borrow it."""
    query = (
        select(*sum_columns())
        .join(E, E.id == V.event_pk)
        .where(E.occurred_at >= since, V.kind == "noise", WEIGHTED)
    )
    return WeightedSums.of(session.execute(query).one())


def _page_by_excess_gap(
    session: Session, matching: Any, since: datetime, noise: WeightedSums, descending: bool
) -> list[int]:
    sums = _verdict_sums(session, since, matching=matching)
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
        select(S.id).where(_among(S.id, matching)).order_by(S.event_count.desc(), S.id)
    )
    return ranked + [seg for seg in rest if seg not in scored]


def _page_by_p95_estimate(
    session: Session, matching: Any, since: datetime, descending: bool
) -> list[int]:
    """Every matching segment ranked by a bucketed p95 of the window's latencies.

    One GROUP BY counts, per segment, the events above each log-spaced edge; the p95 lies in
    the first bucket whose tail holds at most 5%. Exact to 25%, which is enough to order by.
    """
    above = [func.sum(case((E.latency_ms > edge, 1), else_=0)) for edge in P95_EDGES]
    query = (
        select(E.segment_id, func.count(E.latency_ms), *above)
        .where(E.occurred_at >= since, _among(E.segment_id, matching))
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
        select(S.id).where(_among(S.id, matching)).order_by(S.event_count.desc(), S.id)
    )
    return ranked + [seg for seg in rest if seg not in estimate]


def _recent_p95(session: Session, segment_id: int) -> float | None:
    values = session.scalars(
        select(E.latency_ms)
        .where(E.segment_id == segment_id, E.latency_ms.is_not(None))
        .order_by(E.id.desc())
        .limit(P95_LAST_EVENTS)
    ).all()
    return float(np.percentile(np.asarray(values, dtype=float), 95)) if values else None


def _recent_tradeoff(session: Session, segment_id: int, excess: float | None) -> dict[str, Any]:
    """Cost saved vs quality lost vs p95 added per 1,000 requests, over the last events."""
    last = session.scalars(
        select(E.id)
        .where(E.segment_id == segment_id)
        .order_by(E.id.desc())
        .offset(P95_LAST_EVENTS - 1)
        .limit(1)
    ).first()
    return tradeoff(load_period(session, segment_id, Window(first_id=last)), excess)


def _open_alerts(session: Session, segment_ids: list[int]) -> dict[int, list[models.Alert]]:
    if not segment_ids:
        return {}
    alerts: dict[int, list[models.Alert]] = {}
    query = (
        select(A)
        .where(A.segment_id.in_(segment_ids), A.status != "resolved")
        .order_by(A.opened_at.desc())
    )
    for alert in session.scalars(query):
        alerts.setdefault(alert.segment_id, []).append(alert)
    return alerts


def _segment_href(key: str) -> str:
    return "/segments/" + quote(key, safe="")


# --- one segment ---------------------------------------------------------------------------


@dataclass
class Series:
    signal: str
    title: str
    points: list[tuple[float, float]] = field(default_factory=list)  # (epoch seconds, value)
    band: list[tuple[float, float, float]] = field(default_factory=list)  # (t, low, high)
    counts: list[int] = field(default_factory=list)
    unit: str = ""


@router.get("/segments/{key:path}", response_class=HTMLResponse, dependencies=[ReadPage])
def segment_page(
    key: str,
    request: Request,
    session: DbSession,
    days: int = Query(default=7, ge=1, le=90),
) -> Response:
    segment = session.scalars(select(S).where(S.key == key)).one_or_none()
    if segment is None:
        return _not_found(request, f"No segment with key {key!r}.")
    # The window counts back from the segment's latest *event* time, so a backfill of last
    # month shows last month's traffic, as every other view reads it (event time).
    end = _aware(segment.last_occurred_at) or datetime.now(UTC)
    first = session.scalar(
        select(func.min(E.occurred_at)).where(
            E.segment_id == segment.id, E.occurred_at >= end - timedelta(days=days)
        )
    )
    start = _aware(first) or end - timedelta(days=days)
    bucket = _bucket_seconds(start, end)
    series = _event_series(session, segment.id, start, end, bucket)
    series.insert(1, _quality_series(session, segment.id, start, end, bucket))
    drift = list(
        session.scalars(
            select(models.DriftEvent)
            # Not windowed by detection (wall-clock) time: a backfill's drift events belong to
            # the event-time window the charts show; the 200 latest are plenty.
            .where(models.DriftEvent.segment_id == segment.id)
            .order_by(models.DriftEvent.detected_at.desc())
            .limit(200)
        )
    )
    fired_at = _fired_at(session, drift)
    charts = [
        {
            "signal": s.signal,
            "title": s.title,
            "svg": line_chart(
                s,
                start.timestamp(),
                end.timestamp(),
                [d for d in drift if d.signal == s.signal],
            ),
            "points": len(s.points),
            "last": s.points[-1][1] if s.points else None,
            "unit": s.unit,
        }
        for s in series
    ]
    alerts = list(
        session.scalars(
            select(A).where(A.segment_id == segment.id).order_by(A.opened_at.desc()).limit(20)
        )
    )
    # The same event-time windows as the charts: the last `days` against the `days` before.
    window, config = timedelta(days=days), get_settings()
    latest = end + timedelta(microseconds=1)  # windows are [start, end): keep the last event
    attribution = attribute_change(
        session,
        segment.id,
        Window(start=latest - 2 * window, end=latest - window),
        Window(start=latest - window, end=latest),
        n_resamples=config.attribution_resamples,
    )
    thresholds = what_if(
        session,
        segment.id,
        Window(start=latest - window, end=latest),
        target=config.target_excess_gap,
        cheap_below=config.router_cheap_when == "below",
    )
    return templates.TemplateResponse(
        request,
        "segment.html",
        {
            "title": segment.key,
            "attribution": attribution,
            "thresholds": thresholds,
            "threshold_svg": threshold_chart(thresholds),
            "reverse_shadow_off": reverse_shadow_problem(config),
            "nav": "segments",
            "segment": segment,
            "charts": charts,
            "drift": drift,
            "fired_at": fired_at,
            "alerts": alerts,
            "examples": _examples(session, segment.id),
            "judging": judge_coverage(session, segment.id),
            "judge_unavailable": _judge_unavailable(session, segment.key),
            "signals": segment_signal_views(session, segment.id, get_settings()),
            "detection_days": get_settings().detection_days,
            "start": start,
            "end": end,
            "bucket": _duration(bucket),
            "days": days,
        },
    )


def _fired_at(session: Session, drift: list[models.DriftEvent]) -> dict[int, tuple[str, datetime]]:
    """Drift event id -> (the sender's event_id, its event time) of the event it fired at."""
    pks = {d.at_event_pk for d in drift if d.at_event_pk is not None}
    if not pks:
        return {}
    rows = session.execute(select(E.id, E.event_id, E.occurred_at).where(E.id.in_(pks)))
    events = {pk: (event_id, occurred_at) for pk, event_id, occurred_at in rows}
    return {d.id: events[d.at_event_pk] for d in drift if d.at_event_pk in events}


def _aware(when: datetime | None) -> datetime | None:
    """SQLite hands back naive UTC datetimes."""
    if when is None or when.tzinfo is not None:
        return when
    return when.replace(tzinfo=UTC)


def _bucket_seconds(start: datetime, end: datetime) -> int:
    span = max((end - start).total_seconds(), 1.0)
    for seconds in BUCKET_CHOICES:
        if span / seconds <= MAX_BUCKETS:
            return seconds
    return BUCKET_CHOICES[-1]


def _duration(seconds: int) -> str:
    if seconds % 86400 == 0:
        return f"{seconds // 86400} d"
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    return f"{seconds // 60} min"


def _bucket_index(session: Session, column: Any, start: datetime, seconds: int) -> Any:
    """SQL for floor((column - start) / seconds), on PostgreSQL and SQLite."""
    if session.get_bind().dialect.name == "postgresql":
        return func.floor((func.extract("epoch", column) - start.timestamp()) / seconds)
    # SQLite keeps timestamps as text; julianday() reads them (days since 4714 BC).
    start_jd = start.timestamp() / 86400.0 + 2440587.5
    return func.floor((func.julianday(column) - start_jd) * 86400.0 / seconds)


def _event_series(
    session: Session, segment_id: int, start: datetime, end: datetime, seconds: int
) -> list[Series]:
    index = _bucket_index(session, E.occurred_at, start, seconds).label("b")
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
    latency = _latency_series(session, segment_id, start, end, seconds, window)
    return [routing, latency, errors, escalation, cost]


def _latency_series(
    session: Session, segment_id: int, start: datetime, end: datetime, seconds: int, window: Any
) -> Series:
    series = Series("latency", SIGNAL_TITLES["latency"], unit="ms")
    n = session.scalar(select(func.count(E.latency_ms)).where(window)) or 0
    index = _bucket_index(session, E.occurred_at, start, seconds)
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


def _quality_series(
    session: Session, segment_id: int, start: datetime, end: datetime, seconds: int
) -> Series:
    """Excess gap per bucket with its 95% interval; buckets are merged until they hold 20 pairs.

    Judged pairs are a few percent of events, so the event buckets would mostly hold one or
    two pairs; merging keeps each point readable and its interval finite.
    """
    series = Series("quality_gap", SIGNAL_TITLES["quality_gap"], unit="share")
    index = _bucket_index(session, E.occurred_at, start, seconds).label("b")
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


def _judge_unavailable(session: Session, segment_key: str) -> str | None:
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


def _examples(session: Session, segment_id: int, limit: int = 8) -> list[dict[str, Any]]:
    """Recent judged pairs, flagship wins first: prompt, both answers, the judge's rationale."""
    R = models.ShadowRun
    rows = session.execute(
        select(V, E.request, E.answer, E.occurred_at, E.route_model, R.answer)
        .join(E, E.id == V.event_pk)
        .outerjoin(R, and_(R.event_pk == V.event_pk, R.replicate == 0))
        .where(V.segment_id == segment_id, V.kind == "gap")
        .order_by(case((V.winner == "flagship", 0), else_=1), V.id.desc())
        .limit(limit)
    ).all()
    return [
        {
            "at": occurred_at,
            "prompt": _prompt_text(request),
            "cheap_model": route_model,
            "cheap_answer": cheap_answer or "",
            "flagship_answer": flagship_answer or "",
            "winner": verdict.winner,
            "judge": verdict.judge,
            "rationale": verdict.rationale,
        }
        for verdict, request, cheap_answer, occurred_at, route_model, flagship_answer in rows
    ]


def _prompt_text(request: dict[str, Any] | None) -> str:
    """The last user message as text (string content or the text parts of a parts list)."""
    messages = (request or {}).get("messages") or []
    for message in reversed(messages):
        if not isinstance(message, dict) or message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            return content
        if isinstance(content, list):
            parts = [p.get("text", "") for p in content if isinstance(p, dict)]
            return "\n".join(part for part in parts if part)
    return ""


# --- alerts --------------------------------------------------------------------------------


ALERT_FILTERS = {
    "active": A.status != "resolved",
    "open": A.status == "open",
    "acknowledged": A.status == "acknowledged",
    "resolved": A.status == "resolved",
}


@router.get("/alerts", response_class=HTMLResponse, dependencies=[ReadPage])
def alerts_page(
    request: Request,
    session: DbSession,
    status: str = Query(default="active", pattern="^(active|open|acknowledged|resolved|all)$"),
    page: int = Query(default=1, ge=1),
    per_page: int = Query(default=PER_PAGE, ge=1, le=MAX_PER_PAGE),
) -> Response:
    query = select(A, S.key).join(S, S.id == A.segment_id)
    counted = select(func.count()).select_from(A)
    if status != "all":
        query = query.where(ALERT_FILTERS[status])
        counted = counted.where(ALERT_FILTERS[status])
    total = session.scalar(counted) or 0
    pages = max(1, math.ceil(total / per_page))
    page = min(page, pages)
    rows = session.execute(
        query.order_by(A.opened_at.desc(), A.id.desc())
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    history = audit.for_alerts(session, [alert.id for alert, _ in rows])
    return templates.TemplateResponse(
        request,
        "alerts.html",
        {
            "title": "Alerts",
            "nav": "alerts",
            "alerts": [
                {
                    "alert": alert,
                    "key": key,
                    "href": _segment_href(key),
                    "audit": history.get(alert.id, []),
                    **_evidence(alert),
                }
                for alert, key in rows
            ],
            "status": status,
            "statuses": ["active", "open", "acknowledged", "resolved", "all"],
            "total": total,
            "page": page,
            "pages": pages,
            "page_link": lambda n: "?" + urlencode({"status": status, "page": n}),
        },
    )


def _evidence(alert: models.Alert) -> dict[str, Any]:
    """Before/after figures from the alert's evidence, whichever shape the detector wrote."""
    evidence = alert.evidence or {}
    before = evidence.get("before")
    after = evidence.get("after")
    before = before if isinstance(before, dict) else {}
    after = after if isinstance(after, dict) else {}
    # shadowgap.alerts.evidence writes {"value", "n", "ci"}; older or hand-made rows may say "mean".
    return {
        "before_mean": before.get("value", before.get("mean")),
        "before_n": before.get("n"),
        "after_mean": after.get("value", after.get("mean")),
        "after_n": after.get("n"),
    }


# --- reports -------------------------------------------------------------------------------


@router.get("/reports", response_class=HTMLResponse, dependencies=[ReadPage])
def reports_page(
    request: Request,
    session: DbSession,
    page: int = Query(default=1, ge=1),
) -> Response:
    R = models.Report
    total = session.scalar(select(func.count()).select_from(R)) or 0
    pages = max(1, math.ceil(total / PER_PAGE))
    page = min(page, pages)
    # The stored HTML and the per-segment rows stay in the database: only the totals are read.
    rows = session.execute(
        select(R.id, R.period_start, R.period_end, R.created_at, R.summary["totals"])
        .order_by(R.period_end.desc(), R.id.desc())
        .limit(PER_PAGE)
        .offset((page - 1) * PER_PAGE)
    ).all()
    return templates.TemplateResponse(
        request,
        "reports.html",
        {
            "title": "Weekly reports",
            "nav": "reports",
            "reports": [
                {
                    "id": rid,
                    "period_start": start,
                    "period_end": end,
                    "created_at": created,
                    "totals": totals if isinstance(totals, dict) else {},
                }
                for rid, start, end, created, totals in rows
            ],
            "page": page,
            "pages": pages,
            "page_link": lambda n: f"?page={n}",
        },
    )


@router.get("/reports/{report_id}", response_class=HTMLResponse, dependencies=[ReadPage])
def report_page(report_id: ReportId, request: Request, session: DbSession) -> Response:
    """A dashboard page framing the stored report, which runs in a sandbox of its own."""
    R = models.Report
    row = session.execute(
        select(R.id, R.period_start, R.period_end).where(R.id == report_id)
    ).one_or_none()
    if row is None:
        return _not_found(request, f"No report {report_id}.")
    return templates.TemplateResponse(
        request,
        "report.html",
        {"title": f"Report {report_id}", "nav": "reports", "report": row},
    )


@router.get("/reports/{report_id}/content", response_class=HTMLResponse, dependencies=[ReadPage])
def report_content(report_id: ReportId, request: Request, session: DbSession) -> Response:
    """The stored Evidently HTML under its own policy (see shadowgap/api/auth/security.py): its
    inline scripts run in an opaque origin, so they can touch neither the session cookie nor
    the API, and the dashboard's own CSP stays strict."""
    html = session.scalar(select(models.Report.html).where(models.Report.id == report_id))
    if html is None:
        return _not_found(request, f"No report {report_id}.")
    return HTMLResponse(
        html,
        headers={
            "Content-Security-Policy": REPORT_CSP,
            "X-Frame-Options": "SAMEORIGIN",
        },
    )


@router.get("/slices", response_class=HTMLResponse, dependencies=[ReadPage])
def slices_page(request: Request, session: DbSession) -> Response:
    """Slices of the latest discovery run, by score (``GET /v1/slices`` as a table)."""
    from shadowgap.api.routes.slices import slice_view
    from shadowgap.slices.discovery import list_slices

    return templates.TemplateResponse(
        request,
        "slices.html",
        {
            "title": "Slices",
            "nav": "slices",
            "slices": [slice_view(s) for s in list_slices(session, True, 100)],
        },
    )


@router.get("/static/{name}")
def static_file(name: str) -> Response:
    # A fixed list, so no path from the URL ever reaches the filesystem.
    media_type = STATIC_FILES.get(name)
    if media_type is None:
        return Response(status_code=404)
    return FileResponse(
        HERE / "static" / name, media_type=media_type, headers={"Cache-Control": "max-age=300"}
    )


def _not_found(request: Request, message: str) -> Response:
    return templates.TemplateResponse(
        request,
        "not_found.html",
        {"title": "Not found", "nav": "", "message": message},
        status_code=404,
    )


# --- inline SVG charts ---------------------------------------------------------------------

WIDTH, HEIGHT = 720, 190
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 62, 14, 12, 28


def line_chart(
    series: Series, t_start: float, t_end: float, drift: list[models.DriftEvent]
) -> Markup:
    """One signal as an SVG line chart: interval band, line, points, drift-event markers.

    Every point carries data-t/data-v attributes and a <title>, so the chart reads without
    script and the browser tests can check the drawn values against the database.
    """
    if t_end <= t_start:
        t_end = t_start + 1.0
    values = [v for _, v in series.points] + [x for b in series.band for x in b[1:]]
    lo, hi = (min(values), max(values)) if values else (0.0, 1.0)
    lo = min(lo, 0.0)
    if series.unit == "share":
        hi = max(hi, 0.05)
    if hi - lo < 1e-12:
        hi = lo + 1.0
    # Head-room above the highest point, but a share axis never passes 100%.
    top = hi + (hi - lo) * 0.08
    hi = min(top, 1.0) if series.unit == "share" and hi <= 1.0 else top
    plot_w = WIDTH - PAD_LEFT - PAD_RIGHT
    plot_h = HEIGHT - PAD_TOP - PAD_BOTTOM

    def x(t: float) -> float:
        return PAD_LEFT + (t - t_start) / (t_end - t_start) * plot_w

    def y(v: float) -> float:
        return PAD_TOP + (1.0 - (v - lo) / (hi - lo)) * plot_h

    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'data-signal="{series.signal}" aria-label="{escape(series.title)}">'
    ]
    for i in range(5):  # horizontal grid with value labels
        v = lo + (hi - lo) * i / 4
        parts.append(
            f'<line class="grid" x1="{PAD_LEFT}" x2="{WIDTH - PAD_RIGHT}" '
            f'y1="{y(v):.1f}" y2="{y(v):.1f}"/>'
            f'<text class="axis" x="{PAD_LEFT - 6}" y="{y(v) + 4:.1f}" text-anchor="end">'
            f"{escape(_format(v, series.unit))}</text>"
        )
    for i in range(5):  # time labels
        t = t_start + (t_end - t_start) * i / 4
        anchor = "start" if i == 0 else "end" if i == 4 else "middle"
        label = datetime.fromtimestamp(t, UTC).strftime("%m-%d %H:%M")
        parts.append(
            f'<text class="axis" x="{x(t):.1f}" y="{HEIGHT - 8}" text-anchor="{anchor}">'
            f"{label}</text>"
        )
    if series.band:
        upper = " ".join(f"{x(t):.1f},{y(h):.1f}" for t, _, h in series.band)
        lower = " ".join(f"{x(t):.1f},{y(low):.1f}" for t, low, _ in reversed(series.band))
        parts.append(f'<polygon class="band" points="{upper} {lower}"/>')
    if series.points:
        path = " ".join(
            f"{'M' if i == 0 else 'L'}{x(t):.1f},{y(v):.1f}"
            for i, (t, v) in enumerate(series.points)
        )
        parts.append(f'<path class="line" d="{path}"/>')
        for (t, v), n in zip(series.points, series.counts, strict=False):
            when = datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M")
            parts.append(
                f'<circle class="pt" cx="{x(t):.1f}" cy="{y(v):.1f}" r="2.6" '
                f'data-t="{t:.0f}" data-v="{v:.6g}"><title>{when} UTC: '
                f"{escape(_format(v, series.unit))} (n={n})</title></circle>"
            )
    else:
        parts.append(
            f'<text class="empty" x="{PAD_LEFT + plot_w / 2}" y="{PAD_TOP + plot_h / 2}" '
            f'text-anchor="middle">no data in this window</text>'
        )
    for event in drift:
        t = event.detected_at.timestamp()
        if not t_start <= t <= t_end:
            continue
        tip = (
            f"drift ({event.detector}) at {event.detected_at:%Y-%m-%d %H:%M} UTC: "
            f"{_format(event.before_mean, series.unit)} (n={event.before_n}) -> "
            f"{_format(event.after_mean, series.unit)} (n={event.after_n})"
        )
        parts.append(
            f'<g class="drift" data-t="{t:.0f}"><title>{escape(tip)}</title>'
            f'<line x1="{x(t):.1f}" x2="{x(t):.1f}" y1="{PAD_TOP}" y2="{PAD_TOP + plot_h}"/>'
            f'<path d="M{x(t) - 5:.1f},{PAD_TOP} L{x(t) + 5:.1f},{PAD_TOP} '
            f'L{x(t):.1f},{PAD_TOP + 8}Z"/></g>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def _format(value: float | None, unit: str) -> str:
    if value is None:
        return "–"
    if unit == "share":
        return f"{value * 100:.1f}%"
    if unit == "usd":
        return f"${value:.4f}" if abs(value) < 1 else f"${value:,.2f}"
    if unit == "ms":
        return f"{value:,.0f} ms"
    return f"{value:.3g}"


templates.env.filters["fmt"] = _format
templates.env.globals["segment_href"] = _segment_href
