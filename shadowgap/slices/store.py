"""Writing slice features at ingest: one ``slice_features`` row per newly stored event, in
the ingest transaction (so a rolled-back batch leaves none behind). The ``cadence`` feature is
the class of the request's user stored by the last discovery run (``shadowgap.slices.cadence``),
recorded with the rest so a cadence condition matches the request as the sampler saw it."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import insert, text
from sqlalchemy.orm import Session

from shadowgap.config import Settings
from shadowgap.db import models
from shadowgap.schemas import TrafficEvent
from shadowgap.slices.cadence import cadence_cache, class_of
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
    classes = cadence_cache.get(session)
    for event_id, event_pk in inserted.items():
        event = events[event_id]
        features = compute_features(event, allowed, memo)
        cadence = class_of(features, classes)
        if cadence is not None:
            features["cadence"] = cadence
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
    if session.get_bind().dialect.name == "postgresql":
        session.execute(_PG_INSERT, {"rows": orjson.dumps(rows).decode()})
    else:
        session.execute(insert(models.SliceFeatures), rows)
    return out


# On PostgreSQL the batch goes as one JSON document, encoded by orjson and unpacked by the
# server (as the events themselves, shadowgap/ingest/store.py): the ORM's executemany bound
# and JSON-encoded every row's values in Python, which cost more than computing them.
_PG_INSERT = text(
    "INSERT INTO slice_features (event_pk, occurred_at, user_key, hour, features) "
    "SELECT event_pk, occurred_at, user_key, hour, features "
    "FROM json_to_recordset(CAST(:rows AS json)) "
    "AS r(event_pk int8, occurred_at timestamptz, user_key text, hour int4, features jsonb)"
)
