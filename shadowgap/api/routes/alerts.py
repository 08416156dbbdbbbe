"""Alerts: list, acknowledge, resolve.

Reading needs the read scope. Acknowledging and resolving need the admin scope, are POST-only
and refuse cross-site requests (see shadowgap/api/auth/access.py); each is written to the audit log,
which the alert shows. Resolve notifications are sent by the worker after commit.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from sqlalchemy import select
from sqlalchemy.orm import Session

from shadowgap.alerts import lifecycle
from shadowgap.alerts.queries import alerts_with_keys
from shadowgap.alerts.schemas import AlertEvidence
from shadowgap.api import audit
from shadowgap.api.auth.access import AdminAccess, Principal, require_read
from shadowgap.api.deps import Offset, db_session
from shadowgap.api.schemas import AlertDetail, AlertList, AlertView
from shadowgap.db import models
from shadowgap.enums import AuditAction, ResolvedBy
from shadowgap.errors import NotFound
from shadowgap.schemas import INT4_MAX
from shadowgap.worker import queue

log = logging.getLogger(__name__)
router = APIRouter(tags=["alerts"], dependencies=[Depends(require_read)])
AlertId = Annotated[int, Path(ge=0, le=INT4_MAX, description="the alert's id")]


def alert_view(alert: models.Alert, key: str) -> dict[str, Any]:
    return {
        "id": alert.id,
        "segment": key,
        "signal": alert.signal,
        "status": alert.status,
        "severity": alert.severity,
        "opened_at": alert.opened_at,
        "last_notified_at": alert.last_notified_at,
        "acknowledged_at": alert.acknowledged_at,
        "resolved_at": alert.resolved_at,
        "resolved_by": alert.resolved_by,
        "evidence": AlertEvidence.read(alert.evidence),
    }


@router.get("/v1/alerts", response_model=AlertList, response_model_exclude_unset=True)
def list_alerts(
    session: Session = Depends(db_session),
    status: str | None = Query(default=None, pattern="^(open|acknowledged|resolved)$"),
    limit: int = Query(default=100, ge=1, le=1000),
    offset: Offset = 0,
) -> dict[str, Any]:
    query = alerts_with_keys(status or None, newest="id")
    rows = session.execute(query.limit(limit).offset(offset))
    return {"alerts": [alert_view(alert, key) for alert, key in rows.all()]}


def _alert(session: Session, alert_id: int) -> tuple[models.Alert, str]:
    row = session.execute(
        select(models.Alert, models.Segment.key)
        .join(models.Segment, models.Segment.id == models.Alert.segment_id)
        .where(models.Alert.id == alert_id)
    ).one_or_none()
    if row is None:
        raise NotFound(f"no alert {alert_id}", {"field": "alert_id"})
    return row[0], row[1]


@router.get("/v1/alerts/{alert_id}", response_model=AlertDetail, response_model_exclude_unset=True)
def get_alert(alert_id: AlertId, session: Session = Depends(db_session)) -> dict[str, Any]:
    alert, key = _alert(session, alert_id)
    deliveries = session.execute(
        select(models.Delivery)
        .where(models.Delivery.alert_id == alert_id)
        .order_by(models.Delivery.id)
    ).scalars()
    history = audit.for_alerts(session, [alert_id]).get(alert_id, [])
    return {
        **alert_view(alert, key),
        "audit": [audit.view(entry) for entry in history],
        "deliveries": [
            {
                "id": d.id,
                "channel": d.channel,
                "action": d.action,
                "status": d.status,
                "attempts": d.attempts,
                "last_error": d.last_error,
                "delivered_at": d.delivered_at,
            }
            for d in deliveries
        ],
    }


def _audit(
    session: Session, who: Principal, action: AuditAction, alert_id: int, at: datetime
) -> None:
    audit.record(session, actor=who.name, via=who.via, action=action, at=at, alert_id=alert_id)


@router.post(
    "/v1/alerts/{alert_id}/ack", response_model=AlertView, response_model_exclude_unset=True
)
def acknowledge(
    alert_id: AlertId, who: AdminAccess, session: Session = Depends(db_session)
) -> dict[str, Any]:
    _alert(session, alert_id)
    now = datetime.now(UTC)
    lifecycle.acknowledge(session, alert_id, now)
    _audit(session, who, AuditAction.ACKNOWLEDGE, alert_id, now)
    session.commit()
    alert, key = _alert(session, alert_id)
    return alert_view(alert, key)


@router.post(
    "/v1/alerts/{alert_id}/resolve", response_model=AlertView, response_model_exclude_unset=True
)
def resolve(
    alert_id: AlertId, who: AdminAccess, session: Session = Depends(db_session)
) -> dict[str, Any]:
    _alert(session, alert_id)
    now = datetime.now(UTC)
    delivery_ids = lifecycle.resolve(session, alert_id, now, by=ResolvedBy.USER)
    _audit(session, who, AuditAction.RESOLVE, alert_id, now)
    session.commit()
    for delivery_id in delivery_ids or []:
        try:
            queue.send("alerts.deliver", [delivery_id])
        except Exception as exc:  # noqa: BLE001 - alerts.sweep delivers pending ones later
            log.warning("could not enqueue delivery", extra={"error": type(exc).__name__})
    alert, key = _alert(session, alert_id)
    return alert_view(alert, key)
