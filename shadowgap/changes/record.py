"""Recording a router change that went live, and listing them.

A change is recorded with its scope (:mod:`shadowgap.db.scope`), the time it went live on the
traffic's clock, a description, the proposal it implements (an opaque id) and, when that
proposal predicted one, its effect (:data:`PREDICTED_METRICS`, each a value and an interval).
From then on the drift store re-baselines the scope's detectors at that time, and
:mod:`shadowgap.changes.verify` compares before with after.

**Announced late.** A change recorded after the traffic past its time was already fed to the
detectors may have opened a routing-share alert of its own before anyone said it was planned.
Recording it resolves such alerts of the scope's segments (the ones detected at or after the
change went live), by ``change:<id>``, through the usual lifecycle: the resolve notification
goes to the channels the alert was sent to.

**Superseded.** A change that went live after a regressed one and covers every segment of its
scope (a rollback, or a fix) resolves that change's ``change_regressed`` alert the same way,
by ``change:<id>``, and the regressed change's ``verification.superseded_by`` names it: the
routing the alert is about no longer runs anywhere in its scope. A change that covers only
part of the scope leaves the alert open (the rest still runs the regressed routing). The
newer change is verified on its own, with a before window that starts at the regressed one
(:mod:`shadowgap.changes.verify`), so a fix that does not help is flagged again, under its
own alert. Why not resolve when a later look stops showing the regression: verification
stops at the first look that flags (its error rate is spent up to there), and a look after it
would re-test the same change without error control, so a real regression would flap between
resolved and open as the after window grows.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any, TypeGuard

from sqlalchemy import select
from sqlalchemy.orm import Session

from shadowgap.alerts import lifecycle
from shadowgap.changes.scope import parse_scope, scope_segments, stored_scope_ids
from shadowgap.config import Settings
from shadowgap.db.models import Alert, DriftEvent, RouterChange
from shadowgap.db.watermark import MAX_CLOCK_SKEW
from shadowgap.enums import AlertStatus, ChangeStatus
from shadowgap.errors import InvalidInput
from shadowgap.schemas import CONTROL_CHARACTERS

MAX_DESCRIPTION = 2_000
MAX_PROPOSAL_ID = 128
MAX_LIST = 500
# What a proposal may predict, in the units the verification reports.
PREDICTED_METRICS = ("excess_gap", "cost_per_day", "p95_ms")
# The routing signals an announced change explains (the router moved the traffic).
EXPLAINED_SIGNALS = ("routing_share",)


def record_change(
    session: Session,
    settings: Settings,
    *,
    scope: str,
    at: datetime,
    description: str,
    proposal_id: str | None,
    predicted: dict[str, Any] | None,
    actor: str,
    now: datetime,
) -> tuple[RouterChange, list[int]]:
    """Validate and store a change; ``(change, resolve delivery ids)``. Never commits."""
    for field, text in (("scope", scope), ("proposal_id", proposal_id)):
        if text is not None and CONTROL_CHARACTERS.search(text):
            raise InvalidInput(f"{field} must be printable text", field=field)
    if "\x00" in description:
        # PostgreSQL text cannot hold NUL.
        raise InvalidInput("description must not contain NUL", field="description")
    pairs = parse_scope(scope, list(settings.segment_dimensions))
    if at.tzinfo is None:
        raise InvalidInput("at needs a timezone (e.g. 2026-12-07T12:00:00Z)", field="at")
    if at > now + MAX_CLOCK_SKEW:
        raise InvalidInput("at lies in the future: record a change once it is live", field="at")
    if len(description) > MAX_DESCRIPTION:
        raise InvalidInput(f"description is over {MAX_DESCRIPTION} characters", field="description")
    if proposal_id is not None and not 0 < len(proposal_id) <= MAX_PROPOSAL_ID:
        raise InvalidInput(
            f"proposal_id must be 1 to {MAX_PROPOSAL_ID} characters", field="proposal_id"
        )
    checked = check_predicted(predicted)
    segments = scope_segments(session, pairs)
    if not segments:
        raise InvalidInput(f"no segment is in scope {scope.strip()!r}", field="scope")
    change = RouterChange(
        scope=scope.strip(),
        at=at,
        description=description,
        proposal_id=proposal_id,
        predicted=checked,
        recorded_at=now,
        recorded_by=actor[:256],
        status=ChangeStatus.PENDING,
        verification={},
    )
    session.add(change)
    session.flush()
    segment_ids = [s.id for s in segments]
    deliveries = _resolve_explained(session, change, segment_ids, now)
    deliveries += _resolve_superseded(session, change, set(segment_ids), settings, now)
    return change, deliveries


def check_predicted(predicted: dict[str, Any] | None) -> dict[str, Any] | None:
    """``{metric: {"value": x, "ci": [low, high]}}`` for the known metrics, finite numbers
    with ``low <= value <= high``; a 422 naming the field otherwise."""
    if predicted is None:
        return None
    out: dict[str, Any] = {}
    for metric, item in predicted.items():
        field = f"predicted.{metric}"
        if metric not in PREDICTED_METRICS:
            raise InvalidInput(
                f"unknown metric {metric!r}: use {', '.join(PREDICTED_METRICS)}", field=field
            )
        if not isinstance(item, dict):
            raise InvalidInput("expected {'value': number, 'ci': [low, high]}", field=field)
        value, ci = item.get("value"), item.get("ci")
        if not _finite(value):
            raise InvalidInput("value must be a finite number", field=f"{field}.value")
        if ci is None:
            ci = [value, value]
        if not (isinstance(ci, list) and len(ci) == 2 and all(_finite(v) for v in ci)):
            raise InvalidInput("ci must be [low, high], finite numbers", field=f"{field}.ci")
        if not ci[0] <= value <= ci[1]:
            raise InvalidInput("ci must hold the value: low <= value <= high", field=f"{field}.ci")
        out[metric] = {"value": float(value), "ci": [float(ci[0]), float(ci[1])]}
    return out


def _finite(value: Any) -> TypeGuard[float]:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _resolve_explained(
    session: Session, change: RouterChange, segment_ids: list[int], now: datetime
) -> list[int]:
    """Resolve the scope's routing alerts detected at or after the change went live."""
    alerts = session.scalars(
        select(Alert).where(
            Alert.segment_id.in_(segment_ids),
            Alert.signal.in_(EXPLAINED_SIGNALS),
            Alert.status != AlertStatus.RESOLVED,
        )
    ).all()
    deliveries: list[int] = []
    for alert in alerts:
        opened_by = session.get(DriftEvent, alert.drift_event_id) if alert.drift_event_id else None
        # The event time of the detection that opened it (the drift store records it).
        when = _parse((opened_by.details or {}).get("event_occurred_at") if opened_by else None)
        if when is None or when < change.at:
            continue
        deliveries += lifecycle.resolve(session, alert.id, now, by=f"change:{change.id}")
    return deliveries


def _resolve_superseded(
    session: Session, change: RouterChange, covered: set[int], settings: Settings, now: datetime
) -> list[int]:
    """Resolve the alerts of regressed changes live before ``change`` whose every segment it
    covers (module doc); the resolve deliveries."""
    regressed = session.scalars(
        select(RouterChange).where(
            RouterChange.id != change.id,
            RouterChange.status == ChangeStatus.REGRESSED,
            RouterChange.alert_id.is_not(None),
            RouterChange.at < change.at,
        )
    ).all()
    dimensions = list(settings.segment_dimensions)
    deliveries: list[int] = []
    for old in regressed:
        alert = session.get(Alert, old.alert_id)
        if alert is None or alert.status == AlertStatus.RESOLVED:
            continue
        theirs = stored_scope_ids(session, old.scope, dimensions)
        if not theirs or not theirs <= covered:
            continue
        old.verification = {**(old.verification or {}), "superseded_by": change.id}
        deliveries += lifecycle.resolve(session, alert.id, now, by=f"change:{change.id}")
    return deliveries


def _parse(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when


def list_changes(session: Session, scope: str | None = None, limit: int = 50) -> list[RouterChange]:
    """Newest first (by when they went live); only ``scope``'s when given (its exact text)."""
    if not 1 <= limit <= MAX_LIST:
        raise InvalidInput(f"limit must be 1 to {MAX_LIST}", field="limit")
    query = select(RouterChange).order_by(RouterChange.at.desc(), RouterChange.id.desc())
    if scope is not None:
        query = query.where(RouterChange.scope == scope.strip())
    return list(session.scalars(query.limit(limit)))
