"""drift.update: one micro-batch of a segment's detectors. drift.sweep: catch stragglers."""

from __future__ import annotations

from sqlalchemy import select

from shadowgap.config import get_settings
from shadowgap.db import models, segment_counts
from shadowgap.db.engine import session_scope
from shadowgap.drift.store import segments_with_new_data, update_segment
from shadowgap.worker import queue
from shadowgap.worker.app import app


@app.task(name="drift.update", acks_late=True, soft_time_limit=300, time_limit=330)
def update(segment_id: int) -> int:
    settings = get_settings()
    with session_scope() as session:
        if (
            session.execute(
                select(models.Segment.id).where(models.Segment.id == segment_id)
            ).first()
            is None
        ):
            return 0
        batches = update_segment(session, segment_id, settings)
    # After commit: the alert stage sees committed drift events.
    for batch in batches:
        for drift_event_id in batch.drift_event_ids:
            queue.send("alerts.evaluate", [drift_event_id])
        if batch.n_new:
            queue.send(
                "alerts.observe",
                [segment_id, batch.signal, batch.recent_mean, batch.recent_n, batch.n_updates],
            )
    if any(batch.more for batch in batches):
        # A bounded batch left rows behind: take the next one now rather than at the sweep.
        queue.send("drift.update", [segment_id])
    return sum(batch.n_new for batch in batches)


@app.task(name="drift.sweep", acks_late=True, soft_time_limit=120, time_limit=150)
def sweep() -> int:
    # Counter deltas an API process left unfolded (it stopped, or its fold failed).
    with session_scope() as session:
        segment_counts.fold(session)
    with session_scope() as session:
        segment_ids = segments_with_new_data(session)
    for segment_id in segment_ids:
        queue.send("drift.update", [segment_id])
    return len(segment_ids)
