"""Routing changes proposed for the segments whose quality burns (read-only JSON API)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query
from sqlalchemy import select
from sqlalchemy.orm import Session

from shadowgap.api.auth.access import require_read
from shadowgap.api.deps import db_session, settings
from shadowgap.api.routes.segments import segment_by_key
from shadowgap.api.schemas import Proposals
from shadowgap.attribution.proposals import list_proposals
from shadowgap.config import Settings
from shadowgap.db.models import Slice
from shadowgap.db.watermark import window_end
from shadowgap.errors import InvalidInput, NotFound

router = APIRouter(tags=["proposals"], dependencies=[Depends(require_read)])


@router.get("/v1/proposals", response_model=Proposals, response_model_exclude_unset=True)
def proposals(
    session: Session = Depends(db_session),
    config: Settings = Depends(settings),
    segment: str | None = Query(default=None, description="Only this segment's (its key)"),
    slice: str | None = Query(
        default=None, description="Only this confirmed slice's (its key, as in /v1/slices)"
    ),
) -> dict[str, Any]:
    """Route-to-flagship and threshold proposals for every segment whose excess gap breaks
    ``target_excess_gap`` (90% one-sided) or that has an open quality_gap alert, each with
    its predicted effect and the change in LiteLLM, RouteLLM and generic JSON form; and for
    every confirmed discovered slice (route to the flagship when a router can see it, else a
    threshold for its requests)."""
    if segment is not None and slice is not None:
        raise InvalidInput("give segment or slice, not both", field="slice")
    segment_id = segment_by_key(session, segment).id if segment is not None else None
    if slice is not None and session.scalar(select(Slice.id).where(Slice.key == slice)) is None:
        raise NotFound(f"no slice with key {slice!r}", {"field": "slice"})
    return list_proposals(
        session, config, window_end(session), segment_id=segment_id, slice_key=slice
    )
