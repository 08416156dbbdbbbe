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
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, HTMLResponse, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shadowgap.alerts.queries import STATUS_FILTERS, alerts_with_keys, count_alerts
from shadowgap.alerts.schemas import AlertEvidence, WindowSummary
from shadowgap.api import audit
from shadowgap.api.auth.access import require_read_page
from shadowgap.api.auth.security import REPORT_CSP
from shadowgap.api.dashboard import queries
from shadowgap.api.dashboard.charts import format_value, line_chart, threshold_chart
from shadowgap.api.dashboard.templating import templates
from shadowgap.api.deps import db_session
from shadowgap.attribution.explain import attribute_change
from shadowgap.attribution.periods import Window
from shadowgap.attribution.proposals import list_proposals
from shadowgap.attribution.thresholds import what_if
from shadowgap.config import get_settings
from shadowgap.db import models
from shadowgap.db.watermark import window_end
from shadowgap.drift.store import segment_signal_views
from shadowgap.judging.coverage import judge_coverage
from shadowgap.llm.factory import reverse_shadow_problem
from shadowgap.schemas import INT4_MAX
from shadowgap.slices.watches import exploration_share
from shadowgap.slo.budget import slo_statuses
from shadowgap.slo.request_rules import window_label
from shadowgap.slo.requests import RequestSlo, request_slo_statuses
from shadowgap.stats.excess_gap import WeightedSums, excess_gap

router = APIRouter(include_in_schema=False)
# Report ids are int4: a larger one is a 422 naming the parameter, not a database error.
ReportId = Annotated[int, PathParam(ge=0, le=INT4_MAX)]
DbSession = Annotated[Session, Depends(db_session)]

HERE = Path(__file__).resolve().parent
ReadPage = Depends(require_read_page)
STATIC_FILES = {"dashboard.css": "text/css", "dashboard.js": "text/javascript"}

E = models.TrafficEvent
S = models.Segment
A = models.Alert

PER_PAGE = 50
MAX_PER_PAGE = 200
BUCKET_CHOICES = [300, 900, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400]
MAX_BUCKETS = 180
SORTS = ("key", "volume", "cheap_share", "excess_gap", "p95", "status", "last_event")


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
    # The last N days of event time (as every view reads it), not of the wall clock.
    since = window_end(session) - timedelta(days=days)
    name, descending = sort.lstrip("-"), sort.startswith("-")
    # None means every segment: no IN (SELECT ...) for the planner to wade through.
    matching = select(S.id).where(S.key.contains(q, autoescape=True)) if q else None
    counted = select(func.count()).select_from(S)
    total = session.scalar(counted if matching is None else counted.where(S.id.in_(matching)))
    total = int(total or 0)
    pages = max(1, math.ceil(total / per_page))
    page = min(page, pages)
    offset = (page - 1) * per_page
    global_noise = queries.noise_sums(session, since)

    if name == "excess_gap":
        ids = queries.page_by_excess_gap(session, matching, since, global_noise, descending)
        page_ids = ids[offset : offset + per_page]
    elif name == "p95":
        ids = queries.page_by_p95_estimate(session, matching, since, descending)
        page_ids = ids[offset : offset + per_page]
    else:
        page_ids = queries.page_in_sql(session, matching, name, descending, per_page, offset)

    segments = {s.id: s for s in session.scalars(select(S).where(S.id.in_(page_ids)))}
    gaps = queries.verdict_sums(session, since, page_ids)
    open_alerts = queries.open_alerts(session, page_ids)
    slos = {status.segment_id: status for status in slo_statuses(session, segment_ids=page_ids)}
    request_slos: dict[int, list[RequestSlo]] = {}
    for request_slo in request_slo_statuses(session, segment_ids=page_ids):
        request_slos.setdefault(request_slo.segment_id, []).append(request_slo)
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
                "p95": queries.recent_p95(session, seg_id),
                "tradeoff": queries.recent_tradeoff(session, seg_id, gap.excess),
                "alerts": alerts,
                "slo": slos.get(seg_id),
                "request_slos": request_slos.get(seg_id, []),
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


def _sort_link(params: dict[str, Any], column: str, current: str) -> str:
    # Clicking the active column flips it; a new column starts descending, except the key.
    if current.lstrip("-") == column:
        target = column if current.startswith("-") else f"-{column}"
    else:
        target = column if column == "key" else f"-{column}"
    return "?" + urlencode({**params, "sort": target, "page": 1})


def _segment_href(key: str) -> str:
    return "/segments/" + quote(key, safe="")


# --- one segment ---------------------------------------------------------------------------


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
    end = window_end(session, segment_id=segment.id)
    first = session.scalar(
        select(func.min(E.occurred_at)).where(
            E.segment_id == segment.id, E.occurred_at >= end - timedelta(days=days)
        )
    )
    start = _aware(first) or end - timedelta(days=days)
    bucket = _bucket_seconds(start, end)
    series = queries.event_series(session, segment.id, start, end, bucket)
    series.insert(1, queries.quality_series(session, segment.id, start, end, bucket))
    series.extend(queries.answer_defect_series(session, segment.id, start, end, bucket))
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
    fired_at = queries.fired_at(session, drift)
    changes = queries.segment_changes(session, segment, get_settings())
    charts = [
        {
            "signal": s.signal,
            "title": s.title,
            "svg": line_chart(
                s,
                start.timestamp(),
                end.timestamp(),
                [d for d in drift if d.signal == s.signal],
                changes,
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
    # Proposals read their own window (proposal_window_days, ending where GET /v1/proposals'
    # ends), not the page's: the same evidence, so the same proposal ids.
    proposals = list_proposals(session, config, window_end(session), segment_id=segment.id)[
        "proposals"
    ]
    return templates.TemplateResponse(
        request,
        "segment.html",
        {
            "title": segment.key,
            "attribution": attribution,
            "proposals": proposals,
            "proposal_days": config.proposal_window_days,
            "thresholds": thresholds,
            "threshold_svg": threshold_chart(thresholds),
            "reverse_shadow_off": reverse_shadow_problem(config),
            "nav": "segments",
            "segment": segment,
            "charts": charts,
            "changes": changes,
            "drift": drift,
            "fired_at": fired_at,
            "alerts": alerts,
            "examples": queries.examples(session, segment.id),
            "explored_share": exploration_share(session, segment.id),
            "judging": judge_coverage(session, segment.id),
            "judge_unavailable": queries.judge_unavailable(session, segment.key),
            "signals": segment_signal_views(session, segment.id, get_settings()),
            "slo": next(iter(slo_statuses(session, segment_ids=[segment.id])), None),
            "request_slos": request_slo_statuses(session, segment_ids=[segment.id]),
            "window_label": window_label,
            "detection_days": get_settings().detection_days,
            "start": start,
            "end": end,
            "bucket": _duration(bucket),
            "days": days,
        },
    )


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


# --- alerts --------------------------------------------------------------------------------


@router.get("/alerts", response_class=HTMLResponse, dependencies=[ReadPage])
def alerts_page(
    request: Request,
    session: DbSession,
    status: str = Query(default="active", pattern="^(active|open|acknowledged|resolved|all)$"),
    page: int = Query(default=1, ge=1),
    per_page: int = Query(default=PER_PAGE, ge=1, le=MAX_PER_PAGE),
) -> Response:
    total = count_alerts(session, status)
    pages = max(1, math.ceil(total / per_page))
    page = min(page, pages)
    query = alerts_with_keys(status).limit(per_page).offset((page - 1) * per_page)
    rows = session.execute(query).all()
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
            "statuses": list(STATUS_FILTERS),
            "total": total,
            "page": page,
            "pages": pages,
            "page_link": lambda n: "?" + urlencode({"status": status, "page": n}),
        },
    )


def _evidence(alert: models.Alert) -> dict[str, Any]:
    """Before/after figures from the alert's evidence, whichever shape the detector wrote,
    and its example pairs (tool calls side by side where the answers are calls)."""
    evidence = AlertEvidence.read(alert.evidence)
    before = evidence.before or WindowSummary()
    after = evidence.after or WindowSummary()
    return {
        "before_mean": before.point,
        "before_n": before.n,
        "after_mean": after.point,
        "after_n": after.n,
        "examples": evidence.examples,
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
    from shadowgap.slices.watches import watching

    return templates.TemplateResponse(
        request,
        "slices.html",
        {
            "title": "Slices",
            "nav": "slices",
            "slices": [slice_view(s) for s in list_slices(session, True, 100)],
            "watching": watching(session, window_end(session)),
            "proposals": list_proposals(
                session, get_settings(), window_end(session), slices_only=True
            )["proposals"],
            "proposal_days": get_settings().proposal_window_days,
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


templates.env.filters["fmt"] = format_value
templates.env.globals["segment_href"] = _segment_href
templates.env.globals["inf"] = math.inf
