"""The one query that lists alerts, for the API, the dashboard and the lifecycle."""

from __future__ import annotations

from typing import Literal

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.orm import Session

from shadowgap.db.models import Alert, Segment
from shadowgap.enums import AlertStatus

# 'active' is every unresolved alert; 'all' (or None) every alert.
STATUS_FILTERS = ("active", *AlertStatus, "all")


def status_filter(status: str | None) -> ColumnElement[bool] | None:
    """The WHERE clause of a status filter (module doc); None when it keeps every alert."""
    if status is None or status == "all":
        return None
    if status == "active":
        return Alert.status != AlertStatus.RESOLVED
    return Alert.status == status


def alerts_with_keys(
    status: str | None = None, newest: Literal["opened", "id"] = "opened"
) -> Select[Alert, str]:
    """Alerts with their segment's key, newest first: by opening time (ties by id), or by id
    alone as the JSON API has always listed them."""
    query = select(Alert, Segment.key).join(Segment, Segment.id == Alert.segment_id)
    where = status_filter(status)
    if where is not None:
        query = query.where(where)
    if newest == "id":
        return query.order_by(Alert.id.desc())
    return query.order_by(Alert.opened_at.desc(), Alert.id.desc())


def count_alerts(session: Session, status: str | None = None) -> int:
    query = select(func.count()).select_from(Alert)
    where = status_filter(status)
    if where is not None:
        query = query.where(where)
    return int(session.scalar(query) or 0)
