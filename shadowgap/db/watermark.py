"""The event-time watermark: where every "last N days" window ends.

Views, jobs and reports read traffic by event time (the sender's timestamp), so their windows
must end at the latest event time received, not at the wall clock: after a replay of two weeks
of history, a backfill, or while a sender is paused, "the last 7 days" means the last 7 days of
that traffic. A sender's clock can be wrong, though, and one event dated 2554 must not empty
every window: event times later than ``now + MAX_CLOCK_SKEW`` are ignored (the latest time at
or before that bound counts). With no traffic at all the watermark is ``now``.

Windows are half-open ``[start, end)``, so :func:`window_end` is a hair after the watermark
(the latest event falls inside).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shadowgap.db import models

# How far ahead of the server's clock an event time may be and still move the watermark:
# generous for senders whose clocks drift, far too short for a corrupt timestamp to matter.
MAX_CLOCK_SKEW = timedelta(minutes=5)
# Windows are [start, end): end just after the latest event so that it is counted.
_RESOLUTION = timedelta(microseconds=1)


def event_time_watermark(
    session: Session, now: datetime | None = None, segment_id: int | None = None
) -> datetime:
    """The latest event time received (of one segment, when given), ignoring event times past
    ``now + MAX_CLOCK_SKEW``; ``now`` when nothing was received (``now`` defaults to the wall
    clock)."""
    now = now or datetime.now(UTC)
    cap = now + MAX_CLOCK_SKEW
    E = models.TrafficEvent
    query = select(func.max(E.occurred_at)).where(E.occurred_at <= cap)
    if segment_id is not None:
        # The segment row keeps its latest event time (migration 0008): exact unless a sender's
        # clock ran past the cap, and only then are the segment's events read.
        last = session.scalar(
            select(models.Segment.last_occurred_at).where(models.Segment.id == segment_id)
        )
        if last is None or last <= cap:
            return last or now
        query = query.where(E.segment_id == segment_id)
    latest = session.scalar(query)  # a backward scan of the occurred_at index
    return latest if latest is not None else now


def window_end(
    session: Session, now: datetime | None = None, segment_id: int | None = None
) -> datetime:
    """The exclusive end of every default window: just after the watermark."""
    return event_time_watermark(session, now, segment_id) + _RESOLUTION
