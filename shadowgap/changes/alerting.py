"""The ``change_regressed`` alert: a recorded router change made things worse; roll it back.

Filed under the busiest segment of the change's scope (routing rules match its key), with
signal ``change:<id>``, so each change has at most one. Its evidence says which metrics got
worse, before and after with their 95% intervals, the look that found it, and what to do:
roll the change back. Severity: ``error`` when quality got worse (users get worse answers),
``warning`` for cost or p95 alone. It resolves by hand, or when a later recorded change covers
the whole scope (a rollback or a fix supersedes it: :mod:`shadowgap.changes.record` says why
that rule and not a later look); the detectors do not watch it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from shadowgap.alerts.evidence import dashboard_link, segment_summary
from shadowgap.alerts.lifecycle import change_signal, open_change_alert
from shadowgap.alerts.schemas import AlertEvidence, WindowSummary
from shadowgap.config import Settings
from shadowgap.db.models import RouterChange, Segment
from shadowgap.enums import EvidenceType, Severity

# How each metric reads in a sentence.
LABELS = {"excess_gap": "quality (excess gap)", "cost_per_day": "cost per day", "p95_ms": "p95"}


def recommendation(change: RouterChange, worse: list[str]) -> str:
    # The advice first: headers cut long lines (Slack's at 150 characters).
    what = ", ".join(LABELS.get(metric, metric) for metric in worse)
    described = f" ({change.description[:80]})" if change.description else ""
    return f"roll back router change {change.id}: {what} got worse beyond its interval{described}"


def open_regressed_alert(
    session: Session,
    change: RouterChange,
    segment_ids: list[int],
    settings: Settings,
    now: datetime,
) -> list[int]:
    """Open the change's alert (once); the ids of the trigger deliveries."""
    if not segment_ids:
        return []
    segment = session.get(Segment, segment_ids[0])
    if segment is None:
        return []
    verification = change.verification or {}
    look = next((item for item in verification.get("looks") or [] if item.get("worse")), None)
    worse: list[str] = list(look["worse"]) if look else []
    realised = verification.get("realised") or {}
    first = realised.get(worse[0]) if worse else None
    evidence = AlertEvidence(
        type=EvidenceType.CHANGE_REGRESSED,
        segment=segment_summary(session, segment),
        signal=change_signal(change.id),
        signal_kind="mean",
        before=_window(first, "before", "n_before"),
        after=_window(first, "after", "n_after"),
        dashboard_url=dashboard_link(settings, segment.key),
    )
    extra: dict[str, Any] = {
        "recommendation": recommendation(change, worse),
        "router_change": {
            "id": change.id,
            "scope": change.scope,
            "at": change.at.isoformat(),
            "description": change.description,
            "proposal_id": change.proposal_id,
            "worse": worse,
            "look": look,
            "realised": realised,
        },
    }
    evidence = AlertEvidence.model_validate({**evidence.to_json(), **extra})
    severity = Severity.ERROR if "excess_gap" in worse else Severity.WARNING
    alert_id, deliveries = open_change_alert(
        session, change.id, segment.id, evidence, severity, settings, now
    )
    change.alert_id = alert_id
    return deliveries


def _window(metric: dict[str, Any] | None, side: str, count: str) -> WindowSummary | None:
    if not metric:
        return None
    return WindowSummary(value=metric.get(side), n=metric.get(count))
