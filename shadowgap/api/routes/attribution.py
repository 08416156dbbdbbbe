"""Why a segment moved, and what another router threshold would do (read-only JSON API).

Registered before the segments router: ``/v1/segments/{key:path}`` would otherwise swallow
``.../attribution`` as part of the key.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Depends, Query
from sqlalchemy.orm import Session

from shadowgap.api.auth.access import require_read
from shadowgap.api.deps import db_session, settings
from shadowgap.api.routes.segments import segment_by_key
from shadowgap.api.schemas import Attribution, Thresholds
from shadowgap.attribution.explain import attribute_change
from shadowgap.attribution.periods import Window
from shadowgap.attribution.thresholds import what_if
from shadowgap.attribution.windows import default_windows, parse_interval
from shadowgap.config import Settings
from shadowgap.db.watermark import window_end
from shadowgap.errors import InvalidInput

router = APIRouter(tags=["attribution"], dependencies=[Depends(require_read)])


@router.get(
    "/v1/segments/{key:path}/attribution",
    response_model=Attribution,
    response_model_exclude_unset=True,
)
def segment_attribution(
    key: str,
    session: Session = Depends(db_session),
    config: Settings = Depends(settings),
    before: str | None = Query(
        default=None, description="ISO 8601 interval START/END; default the week before 'after'"
    ),
    after: str | None = Query(
        default=None, description="ISO 8601 interval START/END; default the last 7 days"
    ),
) -> dict[str, Any]:
    """Split the change between two windows into router share, cheap path and traffic mix
    (expected flagship wins and cost per request), with p95 counterfactuals."""
    segment = segment_by_key(session, key)
    if (before is None) != (after is None):
        missing = "before" if before is None else "after"
        raise InvalidInput(f"{missing} is needed when the other window is given", field=missing)
    if before is not None and after is not None:
        before_window = parse_interval(before, "before")
        after_window = parse_interval(after, "after")
    else:
        before_window, after_window = default_windows(window_end(session))
    view = attribute_change(
        session,
        segment.id,
        before_window,
        after_window,
        n_resamples=config.attribution_resamples,
    )
    return {"segment": segment.key, **view}


@router.get(
    "/v1/segments/{key:path}/thresholds",
    response_model=Thresholds,
    response_model_exclude_unset=True,
)
def segment_thresholds(
    key: str,
    session: Session = Depends(db_session),
    config: Settings = Depends(settings),
    days: int = Query(default=7, ge=1, le=90, description="Window: the last N days"),
) -> dict[str, Any]:
    """Cheap share, expected excess gap (95% CI) and cost per request at other thresholds,
    and the cheapest one whose gap stays under ``target_excess_gap``."""
    segment = segment_by_key(session, key)
    end = window_end(session)
    view = what_if(
        session,
        segment.id,
        Window(start=end - timedelta(days=days), end=end),
        target=config.target_excess_gap,
        cheap_below=config.router_cheap_when == "below",
    )
    return {"segment": segment.key, **view}
