"""The event horizon: the id below which every traffic event is final (PostgreSQL).

Ingest numbers events from the table's sequence without any lock, so concurrent API processes
never wait for each other. Ids then commit out of order (a transaction that took id 10 can
commit after one that took id 11) and leave holes (a rolled-back transaction's ids, a
concurrent redelivery skipped by ``ON CONFLICT``). The detectors read each segment from an id
watermark, which must never pass an id that can still commit, and the traffic-share signal
counts the events between two ids; both read only ids up to :func:`safe_id`, and the share
subtracts the holes recorded here.

Why the horizon is safe. Every ingest transaction holds a *shared* advisory lock
(:func:`mark_ingest`) from before it takes its first id until it ends; shared locks never
conflict, so this serialises nothing, but ``pg_locks`` then lists the transactions that may
still commit ids. Read the sequence's last value ``L``, then the holders of that lock: every id
up to ``L`` was taken by a transaction that had the lock before ``L`` was read, so it has ended
or is among those holders. Once none of them holds the lock any more, every id up to ``L`` is
either stored and visible or never will be. ``(L, holders)`` waits in the ``event_horizon`` row
as the candidate until then (and with no holder at all, ``L`` is final at once). Unrelated
transactions (a long report, a drift update) do not hold the horizon back. The row is taken
with ``SKIP LOCKED``: a process that finds another advancing it reads the stored horizon and
goes on, never waiting.

Holes are pruned (:func:`prune_holes`, with row retention) below the lowest id a reader may
still ask about: each segment's traffic-share detector asks for the holes after its previous
event (at or above its watermark), and a segment with no such detector yet from its first
event on.

SQLite serialises writers (``BEGIN IMMEDIATE``) and reuses no rowid, so every stored row is
final and there are no holes: :func:`safe_id` is ``None`` (no bound).
"""

from __future__ import annotations

import json

from sqlalchemy import text
from sqlalchemy.orm import Session

_ROW = 1
# Any constant works: it only has to be the same in every process.
INGEST_LOCK = 0x73676964
# The mark as an SQL expression (bind ``ingest_lock`` to INGEST_LOCK), so that ingest can send
# it in the same statement as its first reads (shadowgap/ingest/store.py): one round trip less.
MARK_SQL = "pg_advisory_xact_lock_shared(:ingest_lock)"
_MARK = text(f"SELECT {MARK_SQL}")
# A bigint advisory key shows in pg_locks as classid (high half), objid (low half), objsubid 1;
# pg_locks lists every database's locks.
_HOLDERS = text(
    "SELECT virtualtransaction FROM pg_locks WHERE locktype = 'advisory' AND granted "
    "AND classid = 0 AND objid = :key AND objsubid = 1 "
    "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
)
_LAST_ID = text(
    "SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END FROM traffic_events_id_seq"
)
_LOCK_ROW = text(
    "SELECT safe_id, candidate_id, candidate_holders FROM event_horizon "
    "WHERE id = :row FOR UPDATE SKIP LOCKED"
)
_STORE = text(
    "UPDATE event_horizon SET safe_id = :safe, candidate_id = :cid, candidate_holders = :ch "
    "WHERE id = :row"
)
# Missing ids in (old, new]: the gaps between consecutive stored ids, with ``new + 1`` as a
# sentinel so that missing ids at the end are found too.
_HOLES = text(
    "INSERT INTO traffic_event_holes (first_id, last_id) "
    "SELECT prev + 1, id - 1 FROM ("
    "  SELECT id, lag(id, 1, CAST(:old AS bigint)) OVER (ORDER BY id) AS prev FROM ("
    "    SELECT id FROM traffic_events WHERE id > :old AND id <= :new"
    "    UNION ALL SELECT CAST(:new AS bigint) + 1"
    "  ) AS ids"
    ") AS pairs WHERE id > prev + 1"
)


def _postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def mark_ingest(session: Session) -> None:
    """Ingest calls this before its transaction takes any event id (see the module doc)."""
    if _postgres(session):
        session.execute(_MARK, {"ingest_lock": INGEST_LOCK})


def safe_id(session: Session) -> int | None:
    """Every event id up to this is final (``None``: no bound, SQLite)."""
    if not _postgres(session):
        return None
    query = text("SELECT safe_id FROM event_horizon WHERE id = :row")
    return int(session.scalar(query, {"row": _ROW}) or 0)


def advance(session: Session) -> int | None:
    """Move the horizon as far as the ingest transactions that have ended allow; returns it.
    Never waits: if another process holds the row, the stored horizon is returned as it is."""
    if not _postgres(session):
        return None
    last = int(session.scalar(_LAST_ID) or 0)
    # Read after ``last``: see the module docstring.
    holders = set(session.scalars(_HOLDERS, {"key": INGEST_LOCK}))
    row = session.execute(_LOCK_ROW, {"row": _ROW}).first()
    if row is None:
        # No row yet (a schema made without the migration): start at zero, whole history.
        session.execute(
            text(
                "INSERT INTO event_horizon (id, safe_id) VALUES (:row, 0) "
                "ON CONFLICT (id) DO NOTHING"
            ),
            {"row": _ROW},
        )
        row = session.execute(_LOCK_ROW, {"row": _ROW}).first()
        if row is None:
            return safe_id(session)
    safe = int(row[0])
    candidate = None if row[1] is None else int(row[1])
    waiting_on = set(json.loads(row[2])) if row[2] else set()
    new_safe = safe
    if candidate is not None and not waiting_on & holders:
        new_safe, candidate = max(new_safe, candidate), None
    if not holders:
        new_safe, candidate = max(new_safe, last), None
    elif candidate is None and last > new_safe:
        candidate, waiting_on = last, holders
    stored_holders = json.dumps(sorted(waiting_on)) if candidate is not None else None
    if new_safe > safe:
        session.execute(_HOLES, {"old": safe, "new": new_safe})
    if (new_safe, candidate, stored_holders) != (safe, row[1], row[2]):
        session.execute(
            _STORE, {"safe": new_safe, "cid": candidate, "ch": stored_holders, "row": _ROW}
        )
    return new_safe


# The detectors that read holes: the traffic-share signal's (shadowgap/drift/signals.py, the
# signal whose estimator is "share"; a test keeps the two in step). db/ cannot import drift/.
HOLE_READERS = ("traffic_share",)
# The lowest id any reader may still ask about (one statement, so one snapshot): the horizon
# (holes are recorded only up to it; a segment's later events have higher ids), the readers'
# watermarks, and the first event of every segment that has no reader yet.
_PRUNE_HOLES = text(
    "DELETE FROM traffic_event_holes WHERE last_id <= ("
    "  SELECT least("
    "    (SELECT safe_id FROM event_horizon WHERE id = :row),"
    "    (SELECT min(watermark) FROM detector_states WHERE signal = ANY(:readers)),"
    "    (SELECT min(first.id) FROM segments s CROSS JOIN LATERAL ("
    "       SELECT min(e.id) AS id FROM traffic_events e WHERE e.segment_id = s.id) AS first"
    "     WHERE NOT EXISTS (SELECT 1 FROM detector_states d"
    "       WHERE d.segment_id = s.id AND d.signal = ANY(:readers)))"
    "  )"
    ")"
)


def prune_holes(session: Session) -> int:
    """Delete the holes no reader can ask about any more (see the module doc); how many."""
    if not _postgres(session):
        return 0
    result = session.execute(_PRUNE_HOLES, {"row": _ROW, "readers": list(HOLE_READERS)})
    return int(getattr(result, "rowcount", 0) or 0)


def holes_between(session: Session, after: int, up_to: int) -> list[tuple[int, int]]:
    """The recorded holes (first id, last id) that overlap ``(after, up_to]``."""
    if not _postgres(session) or up_to <= after:
        return []
    rows = session.execute(
        text(
            "SELECT first_id, last_id FROM traffic_event_holes "
            "WHERE last_id > :after AND first_id <= :up_to ORDER BY first_id"
        ),
        {"after": after, "up_to": up_to},
    )
    return [(int(first), int(last)) for first, last in rows]


def missing_in(holes: list[tuple[int, int]], after: int, up_to: int) -> int:
    """How many ids of ``(after, up_to]`` the holes cover."""
    return sum(max(0, min(last, up_to) - max(first, after + 1) + 1) for first, last in holes)
