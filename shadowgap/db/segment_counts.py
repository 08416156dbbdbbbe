"""Segment counters without row locks on the ingest path.

Every ingest transaction used to ``UPDATE`` its segments' counter rows, which locked them until
commit: two API processes writing the same segment waited for each other's commit. On
PostgreSQL ingest now appends one ``segment_count_deltas`` row per segment and transaction,
in one statement after sampling (an insert locks nothing another writer needs), and
:func:`fold` adds pending deltas into the ``segments`` rows: right after each ingest commit,
as a statement of its own (one statement, so atomic without a BEGIN/COMMIT round trip), and
in the drift sweep (so deltas left by a process that stopped are folded too). The fold takes
segment rows with ``SKIP LOCKED``: a segment another process is folding is left to it, so
folding never waits either. A delta and its events commit together, so nothing is counted
twice or lost; a reader of ``segments`` may lag the last commit by one fold.
:func:`cheap_counts` (the sampling allocation's input) adds the pending deltas.

SQLite serialises writers anyway: :func:`add` applies the counts to the rows at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, insert, literal, or_, select, text, update
from sqlalchemy.orm import Session

from shadowgap.db import models

# Segments folded per call at most.
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


# PostgreSQL: one statement each (a round trip and a compiled statement per batch, whatever
# the number of segments: an expanding IN list is compiled anew for every length). The cheap
# counts are an SQL expression (a JSON object, segment id -> count; bind ``segment_ids``), so
# that ingest can read them in the statement that marks its transaction (ingest/store.py).
PG_CHEAP_COUNTS_SQL = (
    "(SELECT coalesce(json_object_agg(s.id, s.cheap_count + coalesce("
    "(SELECT sum(d.cheap) FROM segment_count_deltas d WHERE d.segment_id = s.id), 0)), '{}') "
    "FROM segments s WHERE s.id = ANY(:segment_ids))"
)
_PG_CHEAP_COUNTS = text(f"SELECT {PG_CHEAP_COUNTS_SQL}")
# Lock the segments that have deltas (FOR NO KEY UPDATE: ingest's inserts hold KEY SHARE on
# their segments through the foreign key, which FOR UPDATE would make them wait for; SKIP
# LOCKED: a segment another process is folding is left to it), take their deltas out and add
# them up. LEAST and GREATEST ignore NULLs.
_PG_FOLD = text(
    "WITH locked AS ("
    "  SELECT id FROM segments WHERE id IN ("
    "    SELECT DISTINCT segment_id FROM segment_count_deltas LIMIT :limit)"
    "  ORDER BY id FOR NO KEY UPDATE SKIP LOCKED"
    "), taken AS ("
    "  DELETE FROM segment_count_deltas d USING locked WHERE d.segment_id = locked.id"
    "  RETURNING d.*"
    "), sums AS ("
    "  SELECT segment_id, sum(events) AS events, sum(cheap) AS cheap, sum(sampled) AS sampled,"
    "    min(first_occurred_at) AS first_at, max(last_occurred_at) AS last_at,"
    "    max(last_seen_at) AS seen_at, count(*) AS deltas"
    "  FROM taken GROUP BY segment_id"
    "), folded AS ("
    "  UPDATE segments s SET"
    "    event_count = s.event_count + sums.events,"
    "    cheap_count = s.cheap_count + sums.cheap,"
    "    sampled_count = s.sampled_count + sums.sampled,"
    "    first_occurred_at = LEAST(s.first_occurred_at, sums.first_at),"
    "    last_occurred_at = GREATEST(s.last_occurred_at, sums.last_at),"
    "    last_seen_at = GREATEST(s.last_seen_at, sums.seen_at)"
    "  FROM sums WHERE s.id = sums.segment_id RETURNING sums.deltas"
    ") SELECT coalesce(sum(deltas), 0) FROM folded"
)


def cheap_counts(session: Session, segment_ids: set[int]) -> dict[int, int]:
    """Each segment's cheap-routed events so far, pending deltas included (no lock taken)."""
    if _postgres(session):
        found = session.scalar(_PG_CHEAP_COUNTS, {"segment_ids": sorted(segment_ids)})
        return parse_cheap_counts(found)
    seg = models.Segment
    query = select(seg.id, seg.cheap_count).where(seg.id.in_(sorted(segment_ids)))
    return {int(segment_id): int(cheap) for segment_id, cheap in session.execute(query)}


def parse_cheap_counts(found: dict[str, Any] | None) -> dict[int, int]:
    """:data:`PG_CHEAP_COUNTS_SQL`'s answer as segment id -> count (JSON keys are text)."""
    return {int(segment_id): int(cheap) for segment_id, cheap in (found or {}).items()}


def all_counts(session: Session) -> tuple[dict[int, int], int]:
    """Every segment's cheap count and all segments' events, pending deltas included: the
    sampling allocation's totals."""
    seg, delta = models.Segment, models.SegmentCountDelta
    cheap = {int(i): int(c) for i, c in session.execute(select(seg.id, seg.cheap_count))}
    events = int(session.scalar(select(func.coalesce(func.sum(seg.event_count), 0))) or 0)
    if _postgres(session):
        pending = session.execute(
            select(delta.segment_id, func.sum(delta.cheap), func.sum(delta.events)).group_by(
                delta.segment_id
            )
        )
        for segment_id, more_cheap, more_events in pending:
            key = int(segment_id)
            cheap[key] = cheap.get(key, 0) + int(more_cheap or 0)
            events += int(more_events or 0)
    return cheap, events


def fold(session: Session, limit: int = FOLD_LIMIT) -> int:
    """Add pending deltas into their segments' rows; returns how many deltas were folded.
    Never waits for a segment row another transaction holds (it is skipped)."""
    if not _postgres(session):
        return 0
    return int(session.scalar(_PG_FOLD, {"limit": limit}) or 0)


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
