"""The SLO burn alerts: ``slo_burn``, one per segment whose quality SLO budget burns, and
``slo_latency_burn`` / ``slo_error_burn`` for the latency and error-rate SLOs (at the end).

Each look (the ``slo.evaluate`` job, every ``SHADOWGAP_SLO_LOOK_HOURS``) reads every segment's
SLO (:func:`shadowgap.slo.budget.slo_statuses`) and, through the alert lifecycle:

- a segment where a burn-rate pair fires gets its ``slo_burn`` alert opened, or the open one
  updated (severity from the loudest pair: ``error`` for the fast pair, ``warning`` for the
  slow ones; re-notified every ``SHADOWGAP_RENOTIFY_HOURS`` like any alert). Not one per pair
  or window: the pairs that fire are listed in its evidence. When the segment's
  ``quality_gap`` alert is already open, the burn is folded into it instead (its evidence
  gains ``slo``) and no second alert opens;
- an open ``slo_burn`` alert resolves once :func:`shadowgap.slo.rules.recovered` holds at
  :data:`shadowgap.slo.rules.RECOVERY_LOOKS` looks in a row (counted in the alert's
  ``baseline_streak``), or when its segment has no judged pairs left in the SLO window.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from shadowgap.alerts import lifecycle
from shadowgap.alerts.evidence import dashboard_link, segment_summary
from shadowgap.alerts.schemas import AlertEvidence, WindowSummary
from shadowgap.alerts.severity import max_severity
from shadowgap.config import Settings
from shadowgap.db.models import Segment
from shadowgap.enums import EvidenceType, Severity
from shadowgap.slo.budget import SegmentSlo, slo_statuses
from shadowgap.slo.request_rules import RECOVERY_LOOKS as REQUEST_RECOVERY_LOOKS
from shadowgap.slo.request_rules import recovered as request_recovered
from shadowgap.slo.requests import RequestSlo, request_slo_statuses
from shadowgap.slo.rules import RECOVERY_LOOKS, recovered


def _evidence(session: Session, status: SegmentSlo, settings: Settings) -> AlertEvidence:
    segment = session.get(Segment, status.segment_id)
    burning = status.burning
    window = burning[0].long if burning else status.window
    after = WindowSummary(value=window.excess, n=window.pairs)
    if window.ci_low is not None and window.ci_high is not None:
        after.ci = [window.ci_low, window.ci_high]
        after.ci_level = 0.95
    return AlertEvidence(
        type=EvidenceType.SLO_BURN,
        segment=segment_summary(session, segment) if segment else None,
        signal=lifecycle.SLO_BURN,
        signal_kind="rate",
        before=WindowSummary(value=status.objective),
        after=after,
        slo=status.to_json(),
        examples=[],
        dashboard_url=dashboard_link(settings, status.key),
    )


def _severity(status: SegmentSlo) -> Severity:
    severity = Severity.INFO
    for outcome in status.burning:
        severity = max_severity(severity, outcome.pair.severity)
    return severity


def evaluate(session: Session, settings: Settings, now: datetime) -> list[int]:
    """One look over every segment (module doc); the ids of the deliveries created."""
    deliveries: list[int] = []
    seen = set()
    for status in slo_statuses(session, now, settings):
        seen.add(status.segment_id)
        if status.burning:
            deliveries += lifecycle.raise_slo_burn(
                session,
                status.segment_id,
                _evidence(session, status, settings),
                _severity(status),
                settings,
                now,
            )
        elif recovered(status.pairs, status.window):
            deliveries += lifecycle.clear_slo_burn(
                session, status.segment_id, status.to_json(), now, looks_needed=RECOVERY_LOOKS
            )
        else:
            lifecycle.hold_slo_burn(session, status.segment_id)
    for segment_id in lifecycle.open_slo_burn_segments(session):
        if segment_id not in seen:  # no judged pairs in the SLO window: nothing burns
            deliveries += lifecycle.clear_slo_burn(session, segment_id, None, now)
    return deliveries


# --- latency and error-rate SLOs -------------------------------------------------------------

# One alert kind per objective: a slow provider, a failing one and a quality regression are
# different problems with different fixes (the quality one's is a routing change, which the
# proposals read from ``slo_burn`` alone), so one per segment and objective.
REQUEST_SIGNALS = {"latency": lifecycle.SLO_LATENCY_BURN, "error": lifecycle.SLO_ERROR_BURN}


def _request_evidence(session: Session, status: RequestSlo, settings: Settings) -> AlertEvidence:
    segment = session.get(Segment, status.segment_id)
    burning = status.burning
    window = burning[0].long if burning else status.pairs[-1].long
    return AlertEvidence(
        type=EvidenceType.SLO_BURN,
        segment=segment_summary(session, segment) if segment else None,
        signal=REQUEST_SIGNALS[status.kind],
        signal_kind="rate",
        before=WindowSummary(value=status.objective.allowed),
        after=WindowSummary(value=window.share, n=window.requests),
        slo=status.to_json(),
        examples=[],
        dashboard_url=dashboard_link(settings, status.key),
    )


def evaluate_requests(session: Session, settings: Settings, now: datetime) -> list[int]:
    """One look at every segment's latency and error-rate SLOs (the ``slo.evaluate_requests``
    job, every ``SHADOWGAP_SLO_REQUEST_LOOK_MINUTES``): as :func:`evaluate`, one alert per
    segment and objective, resolved once :func:`shadowgap.slo.request_rules.recovered` held at
    :data:`shadowgap.slo.request_rules.RECOVERY_LOOKS` looks in a row, or when the segment has
    no requests left in the pairs' windows. The ids of the deliveries created."""
    deliveries: list[int] = []
    seen: set[tuple[int, str]] = set()
    for status in request_slo_statuses(session, now, settings, with_window=False):
        signal = REQUEST_SIGNALS[status.kind]
        seen.add((status.segment_id, signal))
        if status.burning:
            severity = Severity.INFO
            for outcome in status.burning:
                severity = max_severity(severity, outcome.pair.severity)
            evidence = _request_evidence(session, status, settings)
            deliveries += lifecycle.raise_slo_burn(
                session, status.segment_id, evidence, severity, settings, now, signal=signal
            )
        elif request_recovered(status.pairs):
            deliveries += lifecycle.clear_slo_burn(
                session,
                status.segment_id,
                status.to_json(),
                now,
                looks_needed=REQUEST_RECOVERY_LOOKS,
                signal=signal,
            )
        else:
            lifecycle.hold_slo_burn(session, status.segment_id, signal)
    for signal in REQUEST_SIGNALS.values():
        for segment_id in lifecycle.open_slo_burn_segments(session, signal):
            if (segment_id, signal) not in seen:  # no requests left in the windows
                deliveries += lifecycle.clear_slo_burn(
                    session, segment_id, None, now, signal=signal
                )
    return deliveries
