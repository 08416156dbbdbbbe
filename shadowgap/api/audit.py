"""The audit log: one row per state change a person made (ack, resolve, promote, sign-in)."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from shadowgap.db.models import AuditEntry
from shadowgap.enums import AuditAction, AuditVia


def record(
    session: Session,
    *,
    actor: str,
    via: AuditVia,
    action: AuditAction,
    at: datetime,
    alert_id: int | None = None,
    target: str | None = None,
    detail: dict[str, Any] | None = None,
) -> AuditEntry:
    entry = AuditEntry(
        at=at,
        actor=actor[:256],
        via=via,
        action=action,
        alert_id=alert_id,
        target=None if target is None else target[:512],
        detail=detail or {},
    )
    session.add(entry)
    return entry


def view(entry: AuditEntry) -> dict[str, Any]:
    return {
        "at": entry.at,
        "actor": entry.actor,
        "via": entry.via,
        "action": entry.action,
        "target": entry.target,
        "detail": entry.detail,
    }


def for_alerts(session: Session, alert_ids: list[int]) -> dict[int, list[AuditEntry]]:
    """Each alert's entries, oldest first."""
    if not alert_ids:
        return {}
    rows = session.scalars(
        select(AuditEntry)
        .where(AuditEntry.alert_id.in_(alert_ids))
        .order_by(AuditEntry.at, AuditEntry.id)
    )
    found: dict[int, list[AuditEntry]] = defaultdict(list)
    for entry in rows:
        if entry.alert_id is not None:
            found[entry.alert_id].append(entry)
    return dict(found)
