"""The weekly drift report: each segment's period against the equally long period before it.

Aggregates (volumes, rates, costs, judged-pair sums, alerts) come from GROUP BY queries; only
bounded per-segment samples reach pandas, for Evidently's drift tests. The ranking puts first
the segments where the cheap path costs the most quality: excess gap (gap rate minus the
flagship's own noise floor) times cheap-routed volume, i.e. the expected number of requests
this period that got a worse answer than the flagship would have given.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy.orm import Session

from shadowgap.attribution.explain import attribute_change
from shadowgap.attribution.periods import Window
from shadowgap.config import Settings
from shadowgap.db import models
from shadowgap.reporting import drift_checks, queries
from shadowgap.reporting.html import render_report_html
from shadowgap.reporting.queries import PeriodStats
from shadowgap.slo.budget import slo_statuses
from shadowgap.slo.requests import request_slo_statuses
from shadowgap.stats.excess_gap import MIN_SEGMENT_NOISE_PAIRS, WeightedSums, excess_gap

log = logging.getLogger(__name__)

SUMMARY_VERSION = 1
SAMPLE_LIMIT = 5000
# Beyond this many segments only the highest-ranked (and the largest) get an Evidently report:
# each costs ~0.5 s of plotly work, and the rest stay in the SQL summary table.
MAX_EVIDENTLY_SEGMENTS = 300
# Estimates of the flagship's price per request need at least this many observations.
MIN_COST_OBSERVATIONS = 5
# The top of the ranking gets an attribution of its change (a bootstrap each, about a second).
ATTRIBUTED_SEGMENTS = 20


def build_weekly_report(
    session: Session,
    since: datetime,
    until: datetime,
    settings: Settings,
    *,
    sample_limit: int = SAMPLE_LIMIT,
    max_evidently_segments: int = MAX_EVIDENTLY_SEGMENTS,
    workers: int | None = None,
) -> models.Report:
    """Build, add and flush (never commit) the report of [since, until) against the period before.

    ``workers`` caps the processes used for the Evidently reports (None: one per CPU; they
    run serially inside daemonic processes such as Celery's prefork children).
    """
    if since.tzinfo is None or until.tzinfo is None:
        raise ValueError("since and until must be timezone-aware")
    if until <= since:
        raise ValueError("until must be after since")
    started = time.perf_counter()
    prev_since = since - (until - since)

    stats = queries.period_stats(session, prev_since, since, until)
    segment_ids = sorted({seg for seg, _ in stats})
    keys = queries.segment_keys(session, segment_ids)
    # Each period's pooled noise floor, for segments with too few noise pairs of their own.
    global_noise = (_global_noise(stats, 0), _global_noise(stats, 1))
    alert_counts = queries.alert_counts(session, since, until)
    drift_counts = queries.drift_event_counts(session, since, until)
    global_flagship = _global_flagship_cost(stats)
    t_sql = time.perf_counter()

    rows = [
        _segment_row(
            seg,
            keys.get(seg, f"segment:{seg}"),
            stats.get((seg, 1), PeriodStats()),
            stats.get((seg, 0), PeriodStats()),
            global_noise,
            global_flagship,
            alert_counts.get(seg, {"opened": 0, "resolved": 0}),
            drift_counts.get(seg, 0),
        )
        for seg in segment_ids
    ]
    _rank(rows)
    _attach_attributions(session, rows, prev_since, since, until, settings)
    _attach_slo(session, rows, until, settings)

    chosen = _evidently_segments(rows, max_evidently_segments)
    frames = _frames(session, rows, chosen, prev_since, since, until, sample_limit)
    t_sample = time.perf_counter()
    processes = drift_checks.plan_processes(len(frames), workers)
    results = drift_checks.run_all(frames, session.get_bind().engine, workers)
    t_evidently = time.perf_counter()

    by_id = {r.segment_id: r for r in results}
    dashboards: dict[int, dict[str, str]] = {}
    for row in rows:
        drift = by_id.get(row["segment_id"])
        _attach_drift(row, drift)
        if drift is not None and drift.dashboard is not None:
            dashboards[row["segment_id"]] = drift.dashboard

    alerts = queries.alerts_in_period(session, since, until)
    timings = {
        "sql": round(t_sql - started, 3),
        "samples": round(t_sample - t_sql, 3),
        "evidently": round(t_evidently - t_sample, 3),
        "evidently_processes": processes,
    }
    summary: dict[str, Any] = {
        "version": SUMMARY_VERSION,
        "period": {
            "since": since.astimezone(UTC).isoformat(),
            "until": until.astimezone(UTC).isoformat(),
            "previous_since": prev_since.astimezone(UTC).isoformat(),
            "previous_until": since.astimezone(UTC).isoformat(),
        },
        "generated_at": datetime.now(UTC).isoformat(),
        "ranking": "excess_gap x cheap_events (expected answers worse than the flagship's)",
        "drift_methods": drift_checks.methods_view(),
        "sample_limit_per_segment_period": sample_limit,
        "noise_floor": {
            "pairs": global_noise[1].n,
            "rate": global_noise[1].rate,
            "previous_pairs": global_noise[0].n,
            "previous_rate": global_noise[0].rate,
            "min_segment_pairs": MIN_SEGMENT_NOISE_PAIRS,
        },
        "totals": _totals(rows, alerts, alert_counts),
        "segments": rows,
        "alerts": alerts,
        "timings_seconds": timings,
    }
    html = render_report_html(summary, dashboards)
    timings["total"] = round(time.perf_counter() - started, 3)
    report = models.Report(
        period_start=since.astimezone(UTC),
        period_end=until.astimezone(UTC),
        summary=_json_safe(summary),
        html=html,
    )
    session.add(report)
    session.flush()
    # The id exists only after the flush; the link lets JSON readers find the HTML page.
    base = settings.dashboard_url.rstrip("/")
    report.summary = {**report.summary, "url": f"{base}/reports/{report.id}"}
    log.info(
        "weekly report %s: %d segments, %d with Evidently, %.1fs",
        report.id,
        len(rows),
        len(dashboards),
        timings["total"],
    )
    return report


def _global_noise(stats: queries.Stats, cur: int) -> WeightedSums:
    total = WeightedSums()
    for (_, is_cur), s in stats.items():
        if is_cur == cur:
            total = total + s.noise
    return total


def _global_flagship_cost(stats: queries.Stats) -> dict[str, float | None]:
    shadow_n = sum(s.shadow_runs for (_, c), s in stats.items() if c)
    shadow_usd = sum(s.shadow_cost_usd for (_, c), s in stats.items() if c)
    events_n = sum(s.flagship_events_cost_n for (_, c), s in stats.items() if c)
    events_usd = sum(s.flagship_events_cost_usd for (_, c), s in stats.items() if c)
    return {
        "shadow_runs": shadow_usd / shadow_n if shadow_n and shadow_usd > 0 else None,
        "flagship_events": events_usd / events_n if events_n and events_usd > 0 else None,
    }


def _flagship_cost_per_request(
    cur: PeriodStats, global_cost: dict[str, float | None]
) -> tuple[float | None, str]:
    # Shadow runs price the flagship on the cheap path's own prompts; flagship-routed events
    # are a different (usually harder) mix, so they come second. A zero shadow cost means the
    # flagship price settings were left at 0, not that the flagship is free.
    if cur.shadow_runs >= MIN_COST_OBSERVATIONS and cur.shadow_cost_usd > 0:
        return cur.shadow_cost_usd / cur.shadow_runs, "segment_shadow_runs"
    if cur.flagship_events_cost_n >= MIN_COST_OBSERVATIONS and cur.flagship_events_cost_usd > 0:
        return cur.flagship_events_cost_usd / cur.flagship_events_cost_n, "segment_flagship_events"
    if global_cost["shadow_runs"] is not None:
        return global_cost["shadow_runs"], "global_shadow_runs"
    if global_cost["flagship_events"] is not None:
        return global_cost["flagship_events"], "global_flagship_events"
    return None, "none"


def _segment_row(
    seg: int,
    key: str,
    cur: PeriodStats,
    prev: PeriodStats,
    global_noise: tuple[WeightedSums, WeightedSums],
    global_flagship: dict[str, float | None],
    alerts: dict[str, int],
    drift_events: int,
) -> dict[str, Any]:
    gap_cur = excess_gap(cur.gap, cur.noise, global_noise[1])
    gap_prev = excess_gap(prev.gap, prev.noise, global_noise[0])
    flagship_cpr, cost_source = _flagship_cost_per_request(cur, global_flagship)
    cost_saved = (
        cur.cheap_events * flagship_cpr - cur.cheap_cost_usd if flagship_cpr is not None else None
    )
    quality_lost = (
        max(gap_cur.excess, 0.0) * cur.cheap_events if gap_cur.excess is not None else None
    )
    current = {**cur.as_view(), **_gap_view(gap_cur)}
    previous = {**prev.as_view(), **_gap_view(gap_prev)}
    return {
        "segment_id": seg,
        "key": key,
        "rank": None,
        "score": gap_cur.excess * cur.cheap_events if gap_cur.excess is not None else None,
        "current": current,
        "previous": previous,
        "delta": {
            name: _delta(current.get(name), previous.get(name))
            for name in (
                "routing_share",
                "gap_rate",
                "excess_gap",
                "latency_ms_mean",
                "cost_per_request_usd",
                "error_rate",
                "escalation_rate",
            )
        },
        "flagship_cost_per_request_usd": flagship_cpr,
        "flagship_cost_source": cost_source,
        "cost_saved_usd": cost_saved,
        "quality_lost": quality_lost,
        "usd_saved_per_answer_lost": (
            cost_saved / quality_lost if cost_saved is not None and quality_lost else None
        ),
        "alerts": {"opened": alerts.get("opened", 0), "resolved": alerts.get("resolved", 0)},
        "drift_events": drift_events,
        "drift": {},
        "drifted_signals": [],
        "evidently": "pending",
    }


def _attach_attributions(
    session: Session,
    rows: list[dict[str, Any]],
    prev_since: datetime,
    since: datetime,
    until: datetime,
    settings: Settings,
) -> None:
    """Why the top segments moved: this period against the one before (``None`` elsewhere)."""
    for index, row in enumerate(rows):
        row["attribution"] = None
        row["p95_added_ms"] = None
        if index >= ATTRIBUTED_SEGMENTS:
            continue
        if not (row["current"]["events"] and row["previous"]["events"]):
            continue
        row["attribution"] = attribute_change(
            session,
            row["segment_id"],
            Window(start=prev_since, end=since),
            Window(start=since, end=until),
            n_resamples=settings.attribution_resamples,
        )
        latency = row["attribution"].get("latency") or {}
        # The escalation latency tax: p95 with the escalated requests minus p95 without.
        row["p95_added_ms"] = (latency.get("after_escalation_tax") or {}).get("tax_ms")


def _attach_slo(
    session: Session, rows: list[dict[str, Any]], until: datetime, settings: Settings
) -> None:
    """Each segment's quality SLO at the end of the period (shadowgap.slo.budget): objective,
    budget left over the SLO window, burn rate, the burn-rate pairs that fire; and the same of
    its latency and error-rate SLOs (``request_slo``, by objective; shadowgap.slo.requests)."""
    ids = [row["segment_id"] for row in rows]
    statuses = {s.segment_id: s for s in slo_statuses(session, until, settings, segment_ids=ids)}
    for row in rows:
        status = statuses.get(row["segment_id"])
        row["slo"] = (
            None
            if status is None
            else {
                "objective": status.objective,
                "window_days": status.window_days,
                "budget_remaining": status.budget.remaining,
                "burn_rate": status.burn_rate,
                "burning": [o.pair.name for o in status.burning],
            }
        )
    by_segment: dict[int, dict[str, Any]] = {}
    for request in request_slo_statuses(session, until, settings, segment_ids=ids):
        by_segment.setdefault(request.segment_id, {})[request.kind] = {
            "objective": request.objective.allowed,
            "threshold_ms": request.objective.threshold_ms,
            "window_days": request.window_days,
            "budget_remaining": request.budget.remaining if request.budget else None,
            "burn_rate": request.burn_rate,
            "burning": [o.pair.name for o in request.burning],
        }
    for row in rows:
        row["request_slo"] = by_segment.get(row["segment_id"], {})


def _gap_view(gap: Any) -> dict[str, Any]:
    return {
        "gap_pairs": gap.gap_pairs,
        "noise_pairs": gap.noise_pairs,
        "gap_rate": gap.gap_rate,
        "noise_rate": gap.noise_rate,
        "noise_source": gap.noise_source,
        "excess_gap": gap.excess,
        "excess_gap_ci": [gap.ci_low, gap.ci_high] if gap.excess is not None else None,
    }


def _delta(cur: Any, prev: Any) -> float | None:
    if isinstance(cur, int | float) and isinstance(prev, int | float):
        return float(cur) - float(prev)
    return None


def _rank(rows: list[dict[str, Any]]) -> None:
    # Segments without judged pairs have no score; they follow, largest volume first.
    rows.sort(
        key=lambda r: (
            r["score"] is None,
            -(r["score"] or 0.0),
            -r["current"]["cheap_events"],
            r["key"],
        )
    )
    for index, row in enumerate(rows, start=1):
        row["rank"] = index


def _evidently_segments(rows: list[dict[str, Any]], cap: int) -> set[int]:
    eligible = [r for r in rows if r["current"]["events"] and r["previous"]["events"]]
    if len(eligible) <= cap:
        return {r["segment_id"] for r in eligible}
    # Half the slots by rank (where quality is lost), half by volume (where most users are).
    by_rank = [r["segment_id"] for r in eligible[: cap // 2]]
    by_volume = sorted(eligible, key=lambda r: -r["current"]["events"])
    chosen = set(by_rank)
    for row in by_volume:
        if len(chosen) >= cap:
            break
        chosen.add(row["segment_id"])
    return chosen


def _frames(
    session: Session,
    rows: list[dict[str, Any]],
    chosen: set[int],
    prev_since: datetime,
    since: datetime,
    until: datetime,
    limit: int,
) -> list[drift_checks.SegmentFrames]:
    gaps = queries.gap_sample(session, prev_since, since, until)
    gap_groups = {seg: part for seg, part in gaps.groupby("segment_id")} if len(gaps) else {}
    counts = {
        row["segment_id"]: (row["previous"]["events"], row["current"]["events"])
        for row in rows
        if row["segment_id"] in chosen
    }
    every = len(counts) == len(rows)
    samples = queries.event_samples(
        session, counts, prev_since, since, until, limit, all_segments=every
    )
    empty_events = pd.DataFrame(columns=["cur", "is_cheap", "latency_ms", "cost_usd"])
    empty_pairs = pd.DataFrame(columns=["segment_id", "cur", "gap"])
    frames = []
    for row in rows:
        seg = row["segment_id"]
        if seg not in chosen:
            continue
        events = samples.get(seg, empty_events)
        pairs = gap_groups.get(seg, empty_pairs)
        frames.append(
            drift_checks.SegmentFrames(
                seg, _period_frame(events, pairs, 0, limit), _period_frame(events, pairs, 1, limit)
            )
        )
    return frames


def _period_frame(events: pd.DataFrame, pairs: pd.DataFrame, cur: int, limit: int) -> pd.DataFrame:
    # One frame per period holding both event rows and judged-pair rows: the columns a row
    # does not measure stay NaN, which Evidently drops column by column.
    ev = events[events["cur"] == cur]
    gp = pairs[pairs["cur"] == cur]
    if len(gp) > limit:
        gp = gp.sample(n=limit, random_state=0)
    return pd.DataFrame(
        {
            "is_cheap": np.concatenate([ev["is_cheap"].to_numpy(float), np.full(len(gp), np.nan)]),
            "latency_ms": np.concatenate(
                [pd.to_numeric(ev["latency_ms"]).to_numpy(float), np.full(len(gp), np.nan)]
            ),
            "cost_usd": np.concatenate(
                [pd.to_numeric(ev["cost_usd"]).to_numpy(float), np.full(len(gp), np.nan)]
            ),
            "gap": np.concatenate([np.full(len(ev), np.nan), gp["gap"].to_numpy(float)]),
        }
    )


def _attach_drift(row: dict[str, Any], drift: drift_checks.SegmentDrift | None) -> None:
    if drift is None:
        both = row["current"]["events"] and row["previous"]["events"]
        row["evidently"] = (
            "skipped: beyond the per-report segment cap"
            if both
            else "skipped: no events in one of the periods"
        )
        return
    row["drift"] = drift.columns
    row["drifted_signals"] = drift.drifted
    if drift.error:
        row["evidently"] = f"failed: {drift.error}"
    elif drift.dashboard is None:
        row["evidently"] = "skipped: too few rows in every column"
    else:
        row["evidently"] = "ok"


def _totals(
    rows: list[dict[str, Any]],
    alerts: dict[str, list[dict[str, Any]]],
    alert_counts: dict[int, dict[str, int]],
) -> dict[str, Any]:
    def total(name: str) -> float | None:
        values = [r[name] for r in rows if r[name] is not None]
        return float(sum(values)) if values else None

    return {
        "segments": len(rows),
        "events": sum(r["current"]["events"] for r in rows),
        "previous_events": sum(r["previous"]["events"] for r in rows),
        "cheap_events": sum(r["current"]["cheap_events"] for r in rows),
        "segments_with_drift": sum(1 for r in rows if r["drifted_signals"]),
        "segments_with_evidently": sum(1 for r in rows if r["evidently"] == "ok"),
        "cost_saved_usd": total("cost_saved_usd"),
        "quality_lost": total("quality_lost"),
        "alerts_opened": sum(c["opened"] for c in alert_counts.values()),
        "alerts_resolved": sum(c["resolved"] for c in alert_counts.values()),
    }


def _json_safe(value: Any) -> Any:
    """NaN and infinities become null: JSONB (and strict JSON readers) refuse them."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, float | np.floating):
        number = float(value)
        return number if np.isfinite(number) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value
