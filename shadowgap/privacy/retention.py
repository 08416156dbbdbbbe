"""Retention: prompt and answer text older than ``SHADOWGAP_RETENTION_DAYS`` is dropped from
every copy, while every number stays.

"Older" is the event's own time (``occurred_at``), for the event and for every copy of its
text. Text lives in: ``traffic_events`` (request messages, answer, error), ``shadow_runs``
(answer, error), ``verdicts`` (rationale, raw judge output) and ``pending_originals``, all keyed
by the event; and in copies registered with the events they quote
(:mod:`shadowgap.privacy.copies`): ``alerts.evidence`` (example requests with both answers and
the rationale), ``deliveries.payload`` (the rendered Slack / PagerDuty / webhook bodies) and
the outbox files. So an alert opened today on backfilled events dated last year loses their
text on the next run, like the events do. Copies that are themselves older than the period go
too (they cannot quote anything younger unless a sender's clock runs ahead). Reports hold
aggregates only. Counts, costs, latencies, verdict winners and scores, detector states and
drift events are kept, so dashboards, reports and detectors are unchanged. Runs daily
(``privacy.retention`` on beat); idempotent.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from shadowgap.config import Settings
from shadowgap.db import models
from shadowgap.enums import DeliveryStatus
from shadowgap.privacy import copies, originals

EXPIRED_PAYLOAD = copies.tombstone("retention")


@dataclass
class RetentionResult:
    events: int = 0
    shadow_runs: int = 0
    verdicts: int = 0
    alerts: int = 0
    deliveries: int = 0
    outbox_files: int = 0
    originals: int = 0


def strip_examples(evidence: dict[str, Any]) -> dict[str, Any]:
    """The evidence with its examples' text removed (what ``copies.EXAMPLE_KEPT`` names
    stays)."""
    examples = evidence.get("examples")
    if not isinstance(examples, list):
        return evidence
    return {
        **evidence,
        "examples": [
            {k: (v if k in copies.EXAMPLE_KEPT else None) for k, v in example.items()}
            if isinstance(example, dict)
            else example
            for example in examples
        ],
    }


def _rowcount(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


def apply_retention(
    session: Session, now: datetime, days: int, outbox_dir: str | None = None
) -> RetentionResult:
    """Drop the text of everything older than ``days`` (no-op for 0). Never commits."""
    result = RetentionResult()
    if days <= 0:
        return result
    cutoff = now - timedelta(days=days)
    E, R, V = models.TrafficEvent, models.ShadowRun, models.Verdict
    old_events = select(E.id).where(E.occurred_at < cutoff).scalar_subquery()
    result.events = _rowcount(
        session.execute(
            update(E)
            .where(
                E.occurred_at < cutoff,
                E.answer.is_not(None) | E.error.is_not(None) | E.answer_tool_calls.is_not(None),
            )
            # Tool-call arguments are text the model wrote: they go with the answer.
            .values(answer=None, answer_tool_calls=None, error=None)
        )
    )
    # The request JSON keeps its generation params; its messages go. Rows already emptied
    # are skipped by comparing in Python (JSON equality differs across backends).
    emptied = 0
    for row in session.execute(select(E.id, E.request).where(E.occurred_at < cutoff)):
        request = row.request or {}
        if request.get("messages"):
            session.execute(
                update(E)
                .where(E.id == row.id)
                .values(request={"messages": [], "params": request.get("params") or {}})
            )
            emptied += 1
    result.events = max(result.events, emptied)
    result.shadow_runs = _rowcount(
        session.execute(
            update(R)
            .where(
                R.event_pk.in_(old_events),
                R.answer.is_not(None) | R.error.is_not(None) | R.answer_tool_calls.is_not(None),
            )
            .values(answer=None, answer_tool_calls=None, error=None)
        )
    )
    result.verdicts = _rowcount(
        session.execute(
            update(V)
            .where(V.event_pk.in_(old_events), V.rationale != "")
            .values(rationale="", raw={})
        )
    )
    result.originals = _rowcount(
        session.execute(
            delete(models.PendingOriginal).where(models.PendingOriginal.event_pk.in_(old_events))
        )
    )
    forgotten = copies.forget(session, _quoted_before(session, cutoff), "retention", outbox_dir)
    result.alerts, result.deliveries = forgotten.alerts, forgotten.deliveries
    result.outbox_files = forgotten.outbox_files
    # Copies older than the period themselves (and rows written before the registry).
    for alert in session.scalars(select(models.Alert).where(models.Alert.opened_at < cutoff)):
        evidence = alert.evidence or {}
        stripped = strip_examples(evidence)
        if stripped != evidence:
            alert.evidence = stripped
            result.alerts += 1
    D = models.Delivery
    for delivery in session.scalars(
        select(D).where(D.created_at < cutoff, D.status != DeliveryStatus.PENDING)
    ):
        if delivery.payload != EXPIRED_PAYLOAD:
            delivery.payload = dict(EXPIRED_PAYLOAD)
            result.deliveries += 1
    if outbox_dir:
        result.outbox_files += _expire_outbox(Path(outbox_dir), cutoff)
    return result


def _quoted_before(session: Session, cutoff: datetime) -> list[int]:
    """Events older than the cutoff that some registered copy still quotes."""
    C, E = models.TextCopy, models.TrafficEvent
    return list(
        session.scalars(
            select(C.event_pk).join(E, E.id == C.event_pk).where(E.occurred_at < cutoff).distinct()
        )
    )


def _expire_outbox(directory: Path, cutoff: datetime) -> int:
    """Outbox files are copies of notifications: older than the cutoff, they are deleted."""
    if not directory.is_dir():
        return 0
    removed = 0
    for path in directory.rglob("*.json"):
        if path.stat().st_mtime < cutoff.timestamp():
            os.remove(path)
            removed += 1
    return removed


def run_daily(session: Session, now: datetime, settings: Settings) -> RetentionResult:
    """The daily job's body: retention, and originals whose verdicts never came."""
    result = apply_retention(
        session, now, settings.retention_days, outbox_dir=settings.alert_outbox_dir
    )
    result.originals += originals.drop_stale(session, now, settings.originals_max_hours)
    return result
