"""Segment counters without row locks on the ingest path.

Every ingest transaction used to ``UPDATE`` its segments' counter rows, which locked them until
commit: two API processes writing the same segment waited for each other's commit. On
PostgreSQL ingest now appends one ``segment_count_deltas`` row per segment and transaction
(an insert locks nothing another writer needs), and :func:`fold` adds pending deltas into the
``segments`` rows: right after each ingest commit, in its own short transaction, and in the
drift sweep (so deltas left by a process that stopped are folded too). The fold takes segment
rows with ``SKIP LOCKED``: a segment another process is folding is left to it, so folding never
waits either. A delta and its events commit together, so nothing is counted twice or lost; a
reader of ``segments`` may lag the last commit by one fold. :func:`cheap_counts` (the sampling
allocation's input) adds the pending deltas.

SQLite serialises writers anyway: :func:`add` applies the counts to the rows at once.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case, delete, func, insert, literal, or_, select, update
from sqlalchemy.orm import Session

from shadowgap.db import models

FOLD_LIMIT = 10_000


@dataclass
class Counts:
    """What one transaction adds to a segment."""

    events: int = 0
    cheap: int = 0
    sampled: int = 0
    first_occurred_at: datetime | None = None
    last_occurred_at: datetime | None = None
    last_seen_at: datetime | None = None

    def merge(self, other: Counts) -> None:
        self.events += other.events
        self.cheap += other.cheap
        self.sampled += other.sampled
        self.first_occurred_at = _least(self.first_occurred_at, other.first_occurred_at)
        self.last_occurred_at = _greatest(self.last_occurred_at, other.last_occurred_at)
        self.last_seen_at = _greatest(self.last_seen_at, other.last_seen_at)


def _least(a: datetime | None, b: datetime | None) -> datetime | None:
    return b if a is None else a if b is None else min(a, b)


def _greatest(a: datetime | None, b: datetime | None) -> datetime | None:
    return b if a is None else a if b is None else max(a, b)


def _postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def add(session: Session, per_segment: dict[int, Counts]) -> None:
    """Count a transaction's new events and samples (see the module docstring)."""
    if not per_segment:
        return
    if not _postgres(session):
        _apply(session, per_segment)
        return
    session.execute(
        insert(models.SegmentCountDelta),
        [
            {
                "segment_id": segment_id,
                "events": c.events,
                "cheap": c.cheap,
                "sampled": c.sampled,
                "first_occurred_at": c.first_occurred_at,
                "last_occurred_at": c.last_occurred_at,
                "last_seen_at": c.last_seen_at,
            }
            for segment_id, c in sorted(per_segment.items())
        ],
    )


def cheap_counts(session: Session, segment_ids: set[int]) -> dict[int, int]:
    """Each segment's cheap-routed events so far, pending deltas included (no lock taken)."""
    seg, delta = models.Segment, models.SegmentCountDelta
    counts = {
        int(segment_id): int(cheap)
        for segment_id, cheap in session.execute(
            select(seg.id, seg.cheap_count).where(seg.id.in_(sorted(segment_ids)))
        )
    }
    if _postgres(session):
        pending = session.execute(
            select(delta.segment_id, func.sum(delta.cheap))
            .where(delta.segment_id.in_(sorted(segment_ids)))
            .group_by(delta.segment_id)
        )
        for segment_id, cheap in pending:
            counts[int(segment_id)] = counts.get(int(segment_id), 0) + int(cheap or 0)
    return counts


def fold(session: Session, limit: int = FOLD_LIMIT) -> int:
    """Add pending deltas into their segments' rows; returns how many deltas were folded.
    Never waits for a segment row another transaction holds (it is skipped)."""
    if not _postgres(session):
        return 0
    seg, delta = models.Segment, models.SegmentCountDelta
    pending = sorted(session.execute(select(delta.segment_id).distinct().limit(limit)).scalars())
    if not pending:
        return 0
    # FOR NO KEY UPDATE: ingest's inserts hold KEY SHARE on their segments (the foreign key),
    # which FOR UPDATE would make them wait for.
    locked = list(
        session.execute(
            select(seg.id)
            .where(seg.id.in_(pending))
            .order_by(seg.id)
            .with_for_update(skip_locked=True, key_share=True)
        ).scalars()
    )
    if not locked:
        return 0
    rows = session.execute(
        delete(delta)
        .where(delta.segment_id.in_(locked))
        .returning(
            delta.segment_id,
            delta.events,
            delta.cheap,
            delta.sampled,
            delta.first_occurred_at,
            delta.last_occurred_at,
            delta.last_seen_at,
        )
    ).all()
    per_segment: dict[int, Counts] = defaultdict(Counts)
    for segment_id, events, cheap, sampled, first, last, seen in rows:
        per_segment[int(segment_id)].merge(Counts(events, cheap, sampled, first, last, seen))
    _apply(session, per_segment)
    return len(rows)


def _apply(session: Session, per_segment: dict[int, Counts]) -> None:
    seg = models.Segment
    # Sorted by id so that concurrent transactions lock segment rows in the same order.
    for segment_id in sorted(per_segment):
        c = per_segment[segment_id]
        values: dict[str, Any] = {
            "event_count": seg.event_count + c.events,
            "cheap_count": seg.cheap_count + c.cheap,
            "sampled_count": seg.sampled_count + c.sampled,
        }
        if c.last_seen_at is not None:
            # Arrival time, not event time: replays of history must not look stale.
            values["last_seen_at"] = case(
                (
                    or_(seg.last_seen_at.is_(None), seg.last_seen_at < _at(c.last_seen_at)),
                    _at(c.last_seen_at),
                ),
                else_=seg.last_seen_at,
            )
        if c.first_occurred_at is not None:
            first = literal(c.first_occurred_at, seg.first_occurred_at.type)
            values["first_occurred_at"] = case(
                (or_(seg.first_occurred_at.is_(None), seg.first_occurred_at > first), first),
                else_=seg.first_occurred_at,
            )
        if c.last_occurred_at is not None:
            last = literal(c.last_occurred_at, seg.last_occurred_at.type)
            values["last_occurred_at"] = case(
                (or_(seg.last_occurred_at.is_(None), seg.last_occurred_at < last), last),
                else_=seg.last_occurred_at,
            )
        session.execute(update(seg).where(seg.id == segment_id).values(**values))


def _at(when: datetime) -> Any:
    return literal(when, models.Segment.last_seen_at.type)
