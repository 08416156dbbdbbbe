"""Discovered slices (read-only JSON API)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from sqlalchemy.orm import Session

from shadowgap.api.auth.access import require_read
from shadowgap.api.deps import db_session
from shadowgap.api.schemas import SliceList, SliceView
from shadowgap.db import models
from shadowgap.db.watermark import window_end
from shadowgap.errors import NotFound
from shadowgap.schemas import INT4_MAX
from shadowgap.slices.discovery import list_slices
from shadowgap.slices.watches import watching

router = APIRouter(tags=["slices"], dependencies=[Depends(require_read)])
# slices.id is int4: a larger id is a 422 naming it, not a database error (like AlertId).
SliceId = Annotated[int, Path(ge=0, le=INT4_MAX, description="the slice's id")]


def _estimate(excess: dict[str, Any] | None) -> dict[str, Any] | None:
    if not excess:
        return None
    return {
        "excess_gap": excess.get("excess"),
        "ci": [excess.get("ci_low"), excess.get("ci_high")],
        "gap_rate": excess.get("gap_rate"),
        "noise_rate": excess.get("noise_rate"),
        "n": excess.get("gap_pairs"),
    }


def slice_view(record: models.Slice) -> dict[str, Any]:
    details = record.details or {}
    return {
        "id": record.id,
        "key": record.key,
        "conditions": record.conditions,
        "score": record.score,
        "traffic_share": record.traffic_share,
        "n": record.n,
        "status": record.status,
        "active": record.active,
        "after": _estimate(details.get("after")),
        "before": _estimate(details.get("before")),
        "complement": _estimate(details.get("complement")),
        "rose": details.get("rose"),
        "difference": details.get("difference"),
        "p_value": details.get("p_value"),
        "q_value": details.get("q_value"),
        "example_event_ids": details.get("example_event_ids") or [],
        "window": details.get("window"),
        "previous_window": details.get("previous_window"),
        "confirmation": record.confirmation,
        "alert_id": record.alert_id,
        "first_found_at": record.first_found_at,
        "last_found_at": record.last_found_at,
    }


@router.get("/v1/slices", response_model=SliceList, response_model_exclude_unset=True)
def get_slices(
    session: Session = Depends(db_session),
    all: bool = Query(default=False, description="include slices not found by the latest run"),
    limit: int = Query(default=50, ge=1, le=500),
) -> dict[str, Any]:
    """Slices ordered by score (excess gap over the complement x traffic share), and the
    slices under watch by exploration (suggestive, boosted in sampling, not yet decided)."""
    return {
        "items": [slice_view(s) for s in list_slices(session, not all, limit)],
        "watching": watching(session, window_end(session)),
    }


@router.get("/v1/slices/{slice_id}", response_model=SliceView, response_model_exclude_unset=True)
def get_slice(slice_id: SliceId, session: Session = Depends(db_session)) -> dict[str, Any]:
    record = session.get(models.Slice, slice_id)
    if record is None:
        raise NotFound(f"slice {slice_id} not found")
    return slice_view(record)
