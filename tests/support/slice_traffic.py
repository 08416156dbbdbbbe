"""Synthetic slice traffic for the slice tests: events stored through ingest, each with a
judged 'gap' pair whose winner a test decides."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import insert, select

from shadowgap.config import get_settings
from shadowgap.db import models
from shadowgap.db.engine import session_scope
from shadowgap.ingest.store import store_events
from shadowgap.schemas import TrafficEvent


def store_judged(
    prefix: str,
    events: list[TrafficEvent],
    flagship_won: Callable[[TrafficEvent], bool],
    probability: float,
) -> None:
    """Store ``events`` (ids ``prefix-*``) as ingest does, and a 'gap' verdict for each, in
    event order, won by the flagship where ``flagship_won(event)``."""
    with session_scope() as session:
        store_events(session, events, "native", get_settings(), datetime.now(UTC))
        pks = dict(
            session.execute(
                select(models.TrafficEvent.event_id, models.TrafficEvent.id).where(
                    models.TrafficEvent.event_id.like(f"{prefix}-%")
                )
            ).all()
        )
        segments = dict(
            session.execute(select(models.TrafficEvent.id, models.TrafficEvent.segment_id)).all()
        )
        rows = []
        for event in events:
            pk = pks[event.event_id]
            won = flagship_won(event)
            rows.append(
                {
                    "event_pk": pk,
                    "segment_id": segments[pk],
                    "kind": "gap",
                    "judge": "answer-match",
                    "winner": "flagship" if won else "cheap",
                    "gap_score": 1.0 if won else -1.0,
                    "inclusion_probability": probability,
                    "raw": {},
                    "rationale": "synthetic",
                }
            )
        session.execute(insert(models.Verdict), rows)
