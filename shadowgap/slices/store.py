"""Writing slice features at ingest: one ``slice_features`` row per newly stored event, in
the ingest transaction (so a rolled-back batch leaves none behind)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from shadowgap.config import Settings
from shadowgap.db import models
from shadowgap.schemas import TrafficEvent
from shadowgap.slices.features import compute_features, epoch_hour, metadata_keys


def store_features(
    session: Session, events: dict[str, TrafficEvent], inserted: dict[str, int], settings: Settings
) -> dict[str, dict[str, Any]]:
    """Features of the events just inserted (``inserted`` maps event id -> primary key);
    returned by event id for the sampler (exploration matches requests against them)."""
    if not inserted:
        return {}
    out: dict[str, dict[str, Any]] = {}
    allowed = metadata_keys(settings.slice_metadata_keys, settings.segment_dimensions)
    rows: list[dict[str, Any]] = []
    memo: dict[tuple[str, ...], Any] = {}  # fingerprints of the batch's repeated texts
    for event_id, event_pk in inserted.items():
        event = events[event_id]
        features = compute_features(event, allowed, memo)
        out[event_id] = features
        rows.append(
            {
                "event_pk": event_pk,
                "occurred_at": event.timestamp,
                "user_key": features.get("user"),
                "hour": epoch_hour(event.timestamp),
                "features": features,
            }
        )
    session.execute(insert(models.SliceFeatures), rows)
    return out
