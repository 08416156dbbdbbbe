"""Segments, their signals and drift events (read-only JSON API)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Query
from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from shadowgap.api.auth.access import require_read
from shadowgap.api.deps import Offset, db_session, settings
from shadowgap.api.schemas import DriftEventList, SegmentDetail, SegmentList
from shadowgap.config import Settings, get_settings
from shadowgap.db import models
from shadowgap.drift.store import segment_signal_views
from shadowgap.errors import NotFound
from shadowgap.judging.coverage import judge_coverage
from shadowgap.shadow.costs import budget_exhausted, spent_today

router = APIRouter(tags=["segments"], dependencies=[Depends(require_read)])

SORTABLE = {
    "key": models.Segment.key,
    "volume": models.Segment.event_count,
    "cheap": models.Segment.cheap_count,
    "sampled": models.Segment.sampled_count,
    # Event time (the sender's clock) and arrival time of the segment's latest event.
    "last_event": models.Segment.last_occurred_at,
    "last_seen": models.Segment.last_seen_at,
}


def segment_summary(segment: models.Segment) -> dict[str, Any]:
    volume = segment.event_count
    return {
        "key": segment.key,
        "dimensions": segment.dimensions,
        "volume": volume,
        "cheap_events": segment.cheap_count,
        "cheap_share": segment.cheap_count / volume if volume else None,
        "sampled_events": segment.sampled_count,
        # Event times: the earliest and latest sender timestamp of the segment's events.
        "first_event_at": segment.first_occurred_at,
        "last_event_at": segment.last_occurred_at,
        # Arrival times: when shadowgap received them (no-data alerts watch these).
        "first_seen_at": segment.first_seen_at,
        "last_seen_at": segment.last_seen_at,
    }


@router.get("/v1/segments", response_model=SegmentList, response_model_exclude_unset=True)
def list_segments(
    session: Session = Depends(db_session),
    config: Settings = Depends(settings),
    q: str | None = Query(default=None, description="substring of the segment key"),
    sort: str = Query(
        default="volume", pattern="^-?(key|volume|cheap|sampled|last_event|last_seen)$"
    ),
    limit: int = Query(default=100, ge=1, le=1000),
    offset: Offset = 0,
) -> dict[str, Any]:
    column = SORTABLE[sort.lstrip("-")]
    order = column.asc() if sort.startswith("-") else column.desc()
    if sort.lstrip("-") == "key":
        order = column.desc() if sort.startswith("-") else column.asc()
    query = select(models.Segment)
    if q:
        query = query.where(models.Segment.key.contains(q, autoescape=True))
    total = session.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    rows = session.execute(query.order_by(order, models.Segment.id).limit(limit).offset(offset))
    now = datetime.now(UTC)
    return {
        "total": total,
        "limit": limit,
        "offset": offset,
        "sampling": {
            "budget_fraction": config.sampling_budget_fraction,
            "daily_budget_usd": config.daily_budget_usd,
            "spent_today_usd": spent_today(session, now),
            "budget_exhausted": config.daily_budget_usd is not None
            and budget_exhausted(session, config, now),
        },
        "segments": [segment_summary(segment) for segment in rows.scalars()],
    }


def segment_by_key(session: Session, key: str) -> models.Segment:
    segment = session.execute(
        select(models.Segment).where(models.Segment.key == key)
    ).scalar_one_or_none()
    if segment is None:
        raise NotFound(f"no segment with key {key!r}", {"field": "key"})
    return segment


# The event a detector fired at, joined by its internal key: the sender's event_id and its
# event time, so that a backfill's drift events can be read on the traffic's own clock.
AtEvent = aliased(models.TrafficEvent)
AT_EVENT_COLUMNS = (AtEvent.event_id, AtEvent.occurred_at)


def drift_event_view(
    event: models.DriftEvent,
    key: str,
    at_event_id: str | None = None,
    at_occurred_at: datetime | None = None,
) -> dict[str, Any]:
    return {
        "id": event.id,
        "segment": key,
        "signal": event.signal,
        "detector": event.detector,
        "detected_at": event.detected_at,
        "sample_index": event.sample_index,
        "at_event_id": at_event_id,
        "at_occurred_at": at_occurred_at,
        "at_event_pk": event.at_event_pk,
        "before": {"mean": event.before_mean, "n": event.before_n},
        "after": {"mean": event.after_mean, "n": event.after_n},
        "statistic": event.statistic,
        "threshold": event.threshold,
        "details": event.details,
    }


@router.get(
    "/v1/segments/{key:path}", response_model=SegmentDetail, response_model_exclude_unset=True
)
def get_segment(key: str, session: Session = Depends(db_session)) -> dict[str, Any]:
    segment = segment_by_key(session, key)
    drift_events = session.execute(
        select(models.DriftEvent, *AT_EVENT_COLUMNS)
        .outerjoin(AtEvent, AtEvent.id == models.DriftEvent.at_event_pk)
        .where(models.DriftEvent.segment_id == segment.id)
        .order_by(models.DriftEvent.id.desc())
        .limit(100)
    ).all()
    return {
        **segment_summary(segment),
        "signals": segment_signal_views(session, segment.id, get_settings()),
        "judging": judge_coverage(session, segment.id),
        "drift_events": [
            drift_event_view(event, segment.key, event_id, occurred_at)
            for event, event_id, occurred_at in drift_events
        ],
    }


@router.get("/v1/drift-events", response_model=DriftEventList, response_model_exclude_unset=True)
def list_drift_events(
    session: Session = Depends(db_session),
    segment: str | None = Query(default=None, description="exact segment key"),
    signal: str | None = None,
    limit: int = Query(default=100, ge=1, le=1000),
    offset: Offset = 0,
) -> dict[str, Any]:
    query = (
        select(models.DriftEvent, models.Segment.key, *AT_EVENT_COLUMNS)
        .join(models.Segment, models.Segment.id == models.DriftEvent.segment_id)
        .outerjoin(AtEvent, AtEvent.id == models.DriftEvent.at_event_pk)
    )
    if segment is not None:
        query = query.where(models.Segment.key == segment)
    if signal is not None:
        query = query.where(models.DriftEvent.signal == signal)
    rows = session.execute(
        query.order_by(models.DriftEvent.id.desc()).limit(limit).offset(offset)
    ).all()
    return {
        "drift_events": [
            drift_event_view(event, key, event_id, occurred_at)
            for event, key, event_id, occurred_at in rows
        ]
    }
