"""The evidence an alert carries: what changed, how sure we are, and what it looks like.

Built from a DriftEvent: segment key, signal, before -> after with sample sizes and 95%
confidence intervals (Wilson for rates, normal for means), the detector and its statistic, up to
three example requests from the after-change window with the cheap answer, the flagship answer
(ShadowRun replicate 0) and the judge's rationale (Verdict kind 'gap') -- for tool-call and
JSON answers also the pair side by side with the difference the judge named
(:mod:`shadowgap.alerts.pairs`) --, the attribution of the
change (router share / cheap path / traffic mix, cost, p95 counterfactuals: see
:mod:`shadowgap.attribution.explain`) with its one-line ``headline``, and a dashboard link.

The evidence is a :class:`shadowgap.alerts.schemas.AlertEvidence`, stored as plain JSON in
``alerts.evidence`` and sent as is by the webhook, so every float is finite and every datetime an
ISO 8601 string.

Normal intervals need a standard deviation, which a DriftEvent has no column for: the drift
stage passes ``before_std`` / ``after_std`` (or ``before_var`` / ``after_var``) in
``DriftEvent.details``; without them a mean's interval is ``null``.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any
from urllib.parse import quote

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session

from shadowgap.alerts.pairs import compare_pair
from shadowgap.alerts.schemas import (
    AlertEvidence,
    Change,
    DetectorSummary,
    DriftSummary,
    Example,
    SegmentSummary,
    SliceSummary,
    WindowSummary,
)
from shadowgap.alerts.severity import SignalSpec, effect_size, signal_spec
from shadowgap.attribution.explain import attribute_change
from shadowgap.attribution.periods import Window, events_in, window_before
from shadowgap.config import Settings
from shadowgap.db.models import DriftEvent, Segment, ShadowRun, TrafficEvent, Verdict
from shadowgap.drift.signals import SIGNALS
from shadowgap.enums import EvidenceType, VerdictKind, Winner
from shadowgap.schemas import answer_display, last_user_text
from shadowgap.stats.estimates import normal_interval, wilson_interval

MAX_EXAMPLES = 3
# Stored evidence stays readable in the dashboard; each notifier trims further to its own limits.
MAX_PROMPT_CHARS = 1000
MAX_ANSWER_CHARS = 2000
MAX_RATIONALE_CHARS = 1000
# Without a known change point, examples come from this many of the segment's latest events.
FALLBACK_WINDOW = 1000
# Answer-defect evidence reads at most this many checked answers, and lists this many kinds.
MAX_DEFECT_ROWS = 5000
MAX_DEFECT_KINDS = 10


def _std(details: dict[str, Any], side: str) -> float | None:
    std = details.get(f"{side}_std")
    if isinstance(std, int | float):
        return float(std)
    var = details.get(f"{side}_var")
    if isinstance(var, int | float) and var >= 0:
        return math.sqrt(var)
    return None


def _finite(value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return float(value)


def window_summary(
    spec: SignalSpec, mean: float | None, n: int, std: float | None = None
) -> WindowSummary:
    """One side of the change: value, sample size and its 95% interval."""
    interval: tuple[float, float] | None = None
    method: str | None = None
    if mean is not None:
        estimate = (
            wilson_interval(min(1.0, max(0.0, mean)) * n, n)
            if spec.kind == "rate"
            else normal_interval(mean, std, n)
        )
        if estimate.low is not None and estimate.high is not None:
            interval = (estimate.low, estimate.high)
        method = "wilson" if spec.kind == "rate" else "normal"
    return WindowSummary(
        value=_finite(mean),
        n=int(n),
        ci=[interval[0], interval[1]] if interval else None,
        ci_method=method if interval else None,
        ci_level=0.95,
    )


def dashboard_link(settings: Settings, segment_key: str) -> str:
    # '=' and ',' are legal in a path segment and keep keys such as tenant=acme readable.
    return f"{settings.dashboard_url.rstrip('/')}/segments/{quote(segment_key, safe='=,:@')}"


def volume_share(session: Session, segment: Segment) -> float:
    # int(): PostgreSQL sums BIGINT as NUMERIC, which arrives as Decimal and is not JSON.
    total = int(session.scalar(select(func.coalesce(func.sum(Segment.event_count), 0))) or 0)
    return (segment.event_count or 0) / total if total > 0 else 0.0


def segment_summary(session: Session, segment: Segment) -> SegmentSummary:
    return SegmentSummary(
        id=segment.id,
        key=segment.key,
        dimensions=segment.dimensions,
        event_count=int(segment.event_count or 0),
        volume_share=volume_share(session, segment),
    )


def _clip(text: str | None, limit: int) -> str | None:
    if text is None:
        return None
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _nth_latest_id(session: Session, event: DriftEvent, spec: SignalSpec, n: int) -> int | None:
    """Event id of the n-th latest sample fed to the signal, at or before the detection point."""
    if spec.source == "verdicts":
        column = Verdict.event_pk
        query = select(column).where(
            Verdict.segment_id == event.segment_id, Verdict.kind == VerdictKind.GAP
        )
    else:
        column = TrafficEvent.id
        query = select(column).where(TrafficEvent.segment_id == event.segment_id)
    if event.at_event_pk is not None:
        query = query.where(column <= event.at_event_pk)
    return session.scalar(query.order_by(column.desc()).offset(max(n, 1) - 1).limit(1))


def after_window(
    session: Session, event: DriftEvent, spec: SignalSpec
) -> tuple[int | None, int | None]:
    """(first, last) traffic event id of the after-change window; either may be open (None).

    The window ends at the detection point and holds the ``after_n`` samples the detector saw
    after the change, unless the drift stage names the change point in
    ``details['change_event_pk']``.
    """
    last = event.at_event_pk
    change = (event.details or {}).get("change_event_pk")
    if isinstance(change, int):
        return change, last
    n = event.after_n if event.after_n and event.after_n > 0 else FALLBACK_WINDOW
    return _nth_latest_id(session, event, spec, n), last


def find_examples(
    session: Session, event: DriftEvent, spec: SignalSpec, limit: int = MAX_EXAMPLES
) -> list[Example]:
    """Up to ``limit`` requests from the after window, flagship wins first, then other judged
    pairs, then the most recent cheap-routed requests."""
    first, last = after_window(session, event, spec)
    query = (
        select(TrafficEvent, Verdict, ShadowRun)
        .outerjoin(
            Verdict, and_(Verdict.event_pk == TrafficEvent.id, Verdict.kind == VerdictKind.GAP)
        )
        .outerjoin(ShadowRun, and_(ShadowRun.event_pk == TrafficEvent.id, ShadowRun.replicate == 0))
        .where(TrafficEvent.segment_id == event.segment_id)
    )
    if first is not None:
        query = query.where(TrafficEvent.id >= first)
    if last is not None:
        query = query.where(TrafficEvent.id <= last)
    rank = case(
        (Verdict.winner == Winner.FLAGSHIP, 0),
        (Verdict.id.is_not(None), 1),
        (TrafficEvent.is_cheap.is_(True), 2),
        else_=3,
    )
    query = query.order_by(
        rank, func.coalesce(Verdict.gap_score, -2.0).desc(), TrafficEvent.id.desc()
    ).limit(limit)
    return [_example(t, v, s) for t, v, s in session.execute(query)]


def _example(traffic: TrafficEvent, verdict: Verdict | None, shadow: ShadowRun | None) -> Example:
    comparison = compare_pair(
        traffic.request,
        traffic.answer,
        traffic.answer_tool_calls,
        shadow.answer if shadow else None,
        shadow.answer_tool_calls if shadow else None,
        verdict.raw if verdict else None,
    )
    example = Example(
        event_pk=traffic.id,
        event_id=traffic.event_id,
        occurred_at=traffic.occurred_at.isoformat(),
        route_tier=traffic.route_tier,
        route_model=traffic.route_model,
        prompt=_clip(last_user_text((traffic.request or {}).get("messages")), MAX_PROMPT_CHARS),
        cheap_answer=_clip(
            answer_display(traffic.answer, traffic.answer_tool_calls), MAX_ANSWER_CHARS
        ),
        flagship_model=shadow.model if shadow else None,
        flagship_answer=(
            _clip(answer_display(shadow.answer, shadow.answer_tool_calls), MAX_ANSWER_CHARS)
            if shadow
            else None
        ),
        winner=verdict.winner if verdict else None,
        gap_score=_finite(verdict.gap_score) if verdict else None,
        judge=verdict.judge if verdict else None,
        rationale=_clip(verdict.rationale, MAX_RATIONALE_CHARS) if verdict else None,
    )
    if comparison is not None:  # prose pairs keep the evidence's earlier keys
        example.comparison = comparison
    return example


def answer_defects(session: Session, event: DriftEvent) -> dict[str, Any] | None:
    """Which tools and error kinds the defective answers of the after-change window show.

    For the answer-defect signals (a ``check`` in :data:`shadowgap.drift.signals.SIGNALS`):
    the ``after_n`` latest answers the detector read up to the detection (at most
    :data:`MAX_DEFECT_ROWS`), as ``{"answers": n, "defective": k, "by_kind": [{"tool",
    "kind", "count", "path", "event_id"}]}``, most frequent first (tool and path are null
    where they do not apply: a truncation has neither). None for any other signal.
    """
    spec = SIGNALS.get(event.signal)
    if spec is None or spec.check is None or spec.value is None:
        return None
    wanted = min(
        event.after_n if event.after_n and event.after_n > 0 else FALLBACK_WINDOW, MAX_DEFECT_ROWS
    )
    query = select(TrafficEvent.id, TrafficEvent.event_id, TrafficEvent.answer_checks).where(
        TrafficEvent.segment_id == event.segment_id, TrafficEvent.answer_checks.is_not(None)
    )
    if event.at_event_pk is not None:
        query = query.where(TrafficEvent.id <= event.at_event_pk)
    query = query.order_by(TrafficEvent.id.desc()).limit(MAX_DEFECT_ROWS)
    answers = defective = 0
    kinds: dict[tuple[Any, Any], dict[str, Any]] = {}
    for row in session.execute(query):
        value = spec.value(row)  # type: ignore[arg-type]
        if value is None:
            continue
        answers += 1
        if value:
            defective += 1
            found = row.answer_checks.get(spec.check)
            detail = found if isinstance(found, dict) else {}
            kind = detail.get("kind") or spec.check
            key = (detail.get("tool"), kind)
            entry = kinds.setdefault(
                key,
                {
                    "tool": detail.get("tool"),
                    "kind": kind,
                    "count": 0,
                    "path": detail.get("path"),
                    "event_id": row.event_id,
                },
            )
            entry["count"] += 1
        if answers >= wanted:
            break
    by_kind = sorted(kinds.values(), key=lambda item: (-item["count"], str(item["kind"])))
    return {"answers": answers, "defective": defective, "by_kind": by_kind[:MAX_DEFECT_KINDS]}


def drift_summary(event: DriftEvent) -> DriftSummary:
    """One line of an alert's drift history."""
    return DriftSummary(
        drift_event_id=event.id,
        detected_at=event.detected_at.isoformat(),
        before=_finite(event.before_mean),
        after=_finite(event.after_mean),
        after_n=int(event.after_n or 0),
    )


def drift_attribution(
    session: Session, event: DriftEvent, spec: SignalSpec, settings: Settings
) -> dict[str, Any]:
    """Why the segment moved: the after-change window against the events just before it.

    The before window holds at least ``attribution_before_events`` events (as many as the
    after window when that is longer), so the cheap path's judged pairs are not too few.
    """
    first, last = after_window(session, event, spec)
    if first is None:
        return {"available": False, "reason": "no change point in the segment's events"}
    after = Window(first_id=first, last_id=last)
    n_before = max(events_in(session, event.segment_id, after), settings.attribution_before_events)
    before = window_before(session, event.segment_id, first, n_before)
    return attribute_change(
        session,
        event.segment_id,
        before,
        after,
        n_resamples=settings.attribution_resamples,
        signal=event.signal,
    )


def build_drift_evidence(
    session: Session, event: DriftEvent, segment: Segment, settings: Settings
) -> dict[str, Any]:
    """The drift evidence as stored and sent (JSON)."""
    return drift_evidence(session, event, segment, settings).to_json()


def drift_evidence(
    session: Session, event: DriftEvent, segment: Segment, settings: Settings
) -> AlertEvidence:
    details = event.details or {}
    spec = signal_spec(event.signal, details)
    before = window_summary(spec, event.before_mean, event.before_n or 0, _std(details, "before"))
    after = window_summary(spec, event.after_mean, event.after_n or 0, _std(details, "after"))
    delta = (
        event.after_mean - event.before_mean
        if event.after_mean is not None and event.before_mean is not None
        else None
    )
    return AlertEvidence(
        type=EvidenceType.DRIFT,
        drift_event_id=event.id,
        segment=segment_summary(session, segment),
        signal=event.signal,
        signal_kind=spec.kind,
        effect_scale=spec.scale,
        before=before,
        after=after,
        change=Change(
            delta=_finite(delta),
            effect_size=_finite(effect_size(spec, event.before_mean, event.after_mean)),
        ),
        detector=DetectorSummary(
            name=event.detector,
            statistic=_finite(event.statistic),
            threshold=_finite(event.threshold),
            sample_index=int(event.sample_index),
            detected_at=event.detected_at.isoformat(),
            at_event_pk=event.at_event_pk,
        ),
        examples=find_examples(session, event, spec),
        attribution=drift_attribution(session, event, spec, settings),
        answer_defects=answer_defects(session, event),
        dashboard_url=dashboard_link(settings, segment.key),
    )


def no_data_evidence(
    session: Session, segment: Segment, settings: Settings, now: datetime
) -> AlertEvidence:
    last = segment.last_seen_at
    silent = (now - last).total_seconds() / 60 if last else None
    return AlertEvidence(
        type=EvidenceType.NO_DATA,
        segment=segment_summary(session, segment),
        signal="no_data",
        # Arrival time of the segment's latest event (Segment.last_seen_at): the key keeps
        # its name so that receivers of no-data payloads see no change.
        last_event_at=last.isoformat() if last else None,
        silent_minutes=_finite(silent),
        threshold_minutes=settings.no_data_minutes,
        examples=[],
        dashboard_url=dashboard_link(settings, segment.key),
    )


def slice_examples(session: Session, event_ids: list[str]) -> list[Example]:
    """The slice's example requests (sender's event ids) in the drift evidence's format."""
    if not event_ids:
        return []
    query = (
        select(TrafficEvent, Verdict, ShadowRun)
        .outerjoin(
            Verdict, and_(Verdict.event_pk == TrafficEvent.id, Verdict.kind == VerdictKind.GAP)
        )
        .outerjoin(ShadowRun, and_(ShadowRun.event_pk == TrafficEvent.id, ShadowRun.replicate == 0))
        .where(TrafficEvent.event_id.in_(event_ids[:MAX_EXAMPLES]))
    )
    found = {t.event_id: _example(t, v, s) for t, v, s in session.execute(query)}
    return [found[event_id] for event_id in event_ids if event_id in found]


def _excess_window(excess: dict[str, Any] | None) -> WindowSummary:
    excess = excess or {}
    low, high = excess.get("ci_low"), excess.get("ci_high")
    return WindowSummary(
        value=_finite(excess.get("excess")),
        n=int(excess.get("gap_pairs") or 0),
        ci=[low, high] if low is not None and high is not None else None,
        ci_method="hajek-normal" if low is not None else None,
        ci_level=0.95,
    )


def slice_evidence(
    session: Session, record: Any, segment: Segment, settings: Settings
) -> AlertEvidence:
    """Evidence of a confirmed slice (``shadowgap.db.models.Slice``), in the drift evidence's
    format: ``before`` is the slice in the window before the one it was found on, ``after``
    the window it was found on; ``confirmation`` the test on the later, disjoint data."""
    details = record.details or {}
    confirmation = record.confirmation or {}
    before, after = _excess_window(details.get("before")), _excess_window(details.get("after"))
    delta = (
        after.value - before.value if after.value is not None and before.value is not None else None
    )
    return AlertEvidence(
        type=EvidenceType.SLICE,
        segment=segment_summary(session, segment),
        signal="slice",
        signal_kind="rate",
        effect_scale="absolute",
        slice=SliceSummary(
            id=record.id,
            key=record.key,
            conditions=record.conditions,
            traffic_share=_finite(record.traffic_share),
            n=int(record.n),
            window_start=record.window_start.isoformat(),
            window_end=record.window_end.isoformat(),
            complement=details.get("complement"),
            q_value=_finite(details.get("q_value")),
        ),
        before=before,
        after=after,
        change=Change(delta=_finite(delta), effect_size=_finite(details.get("difference"))),
        confirmation=confirmation,
        detector=DetectorSummary(
            name="slice discovery (BH) + confirmation on disjoint data",
            statistic=_finite(confirmation.get("z")),
            threshold=_finite(confirmation.get("threshold_z")),
            sample_index=int(confirmation.get("n") or 0),
            detected_at=(record.confirmed_at or record.last_found_at).isoformat(),
            at_event_pk=None,
        ),
        examples=slice_examples(session, list(details.get("example_event_ids") or [])),
        dashboard_url=f"{settings.dashboard_url.rstrip('/')}/slices/{record.id}",
    )
