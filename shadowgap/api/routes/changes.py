"""Router changes: record one that went live (admin), list them with their verification."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Query
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from shadowgap.api.auth.access import AdminAccess, require_read
from shadowgap.api.deps import db_session
from shadowgap.api.deps import settings as current_settings
from shadowgap.changes.record import list_changes, record_change
from shadowgap.config import Settings
from shadowgap.db.models import RouterChange
from shadowgap.worker import queue

log = logging.getLogger(__name__)
router = APIRouter(tags=["changes"])


class ChangeIn(BaseModel):
    """A router change that went live."""

    model_config = ConfigDict(extra="forbid")

    scope: str = Field(
        description="A segment key or a router-visible slice, e.g. 'tenant=hooli' (pairs "
        "'<dimension>=<value>' over the segment dimensions joined by '|'), or 'all'."
    )
    at: AwareDatetime = Field(description="When the change went live (ISO 8601 with zone).")
    description: str = Field(default="", description="What changed, for people.")
    proposal_id: str | None = Field(
        default=None, description="The proposal this change implements (GET /v1/proposals)."
    )
    predicted: dict[str, Any] | None = Field(
        default=None,
        description="The proposal's predicted effect, after minus before: "
        "{'excess_gap'|'cost_per_day'|'p95_ms': {'value': x, 'ci': [low, high]}}.",
    )


def change_view(change: RouterChange) -> dict[str, Any]:
    return {
        "id": change.id,
        "scope": change.scope,
        "at": change.at.isoformat(),
        "description": change.description,
        "proposal_id": change.proposal_id,
        "predicted": change.predicted,
        "recorded_at": change.recorded_at.isoformat(),
        "recorded_by": change.recorded_by,
        "status": str(change.status),
        "verification": change.verification or {},
        "verified_at": change.verified_at.isoformat() if change.verified_at else None,
        "alert_id": change.alert_id,
    }


@router.post("/v1/changes", status_code=201)
def post_change(
    body: ChangeIn,
    who: AdminAccess,
    session: Session = Depends(db_session),
    config: Settings = Depends(current_settings),
) -> dict[str, Any]:
    """Record that a router change went live: the scope's detectors re-baseline at ``at``
    and the change is verified against the traffic before it (docs/changes.md). Needs an
    admin key: a recorded change silences the routing alert it explains."""
    now = datetime.now(UTC)
    change, delivery_ids = record_change(
        session,
        config,
        scope=body.scope,
        at=body.at.astimezone(UTC),
        description=body.description,
        proposal_id=body.proposal_id,
        predicted=body.predicted,
        actor=who.name,
        now=now,
    )
    session.commit()
    for delivery_id in delivery_ids:
        try:
            queue.send("alerts.deliver", [delivery_id])
        except Exception as exc:  # noqa: BLE001 - alerts.sweep delivers pending ones later
            log.warning("could not enqueue delivery", extra={"error": type(exc).__name__})
    return change_view(change)


@router.get("/v1/changes", dependencies=[Depends(require_read)])
def get_changes(
    session: Session = Depends(db_session),
    scope: str | None = Query(default=None, description="only this scope's changes"),
    limit: int = Query(default=50, ge=1, le=500),
) -> dict[str, Any]:
    """Recorded router changes, newest first, each with its verification: ``status``
    (pending, verified, regressed), the realised effect next to the predicted one, the looks
    taken, and while pending the pairs it has, needs, and the days that should take."""
    return {"items": [change_view(c) for c in list_changes(session, scope, limit)]}
