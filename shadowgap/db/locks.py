"""Row locks that keep a segment's verdicts committed in id order (PostgreSQL only)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from shadowgap.db import models


def lock_segment_rows(session: Session, segment_ids: set[int]) -> None:
    """Lock segment rows before writing the segment's verdicts. Writers to one segment then
    take ids and commit in the same order, so a segment's verdicts become visible in id order
    and the quality detectors' watermarks never skip a late commit. FOR NO KEY UPDATE: ingest
    inserts hold KEY SHARE on their segments (the foreign key) and must not wait for a judge.
    (Events need no lock: their readers stop at the event horizon, shadowgap/db/event_horizon.py.
    SQLite needs nothing: BEGIN IMMEDIATE serialises writers.)"""
    if not segment_ids or session.get_bind().dialect.name != "postgresql":
        return
    session.execute(
        select(models.Segment.id)
        .where(models.Segment.id.in_(sorted(segment_ids)))
        .order_by(models.Segment.id)
        .with_for_update(key_share=True)
    ).all()
