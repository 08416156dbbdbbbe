"""The text window: prompt and answer text of events nobody will re-run or show is cleared.

Only sampled events are ever re-run, judged and shown (``sampling_decisions``), and the reverse
shadow re-runs flagship-routed events it draws from the last 15 minutes of arrivals
(``reverse_samples``). Every other event needs its text only at ingest (slice features, answer
checks, sampling and exploration's draw are all computed there) and while the reverse shadow may
still draw it. So once an event was received ``SHADOWGAP_TEXT_WINDOW_MINUTES`` ago, and it has
no sampling decision and no reverse sample, its text is cleared the way retention clears it:
request messages emptied (generation params kept), answer, tool calls and error set to NULL.
Every number, flag, hash, segment and slice feature stays. Sampled events keep their text until
retention (``shadowgap/privacy/retention.py``), so no text is cleared before its verdict.

PostgreSQL clears a whole day partition at a time, once the day has ended and the window has
passed: it copies the partition into a new table with the text cleared and swaps the two, so
the old row versions go with the old file (an UPDATE would leave them behind as dead space
that only a VACUUM FULL gives back). The copy runs under a SHARE lock on that partition only
(reads go on; a late event for that day waits); the swap (detach, drop, rename, attach) takes
the parent's ACCESS EXCLUSIVE lock for a catalog-only moment, bounded by ``LOCK_TIMEOUT`` (on
timeout the run gives up and the next one retries). The partition's comment records the
cutoff and how many rows it copied; it is done again when rows arrive later (a backfill) or
when it kept rows still inside the window. SQLite keeps one table and clears with an UPDATE.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, exists, func, not_, or_, text, update
from sqlalchemy.orm import Session

from shadowgap.config import Settings
from shadowgap.db import models, partitions

LOCK_TIMEOUT = "5s"
_MARK = re.compile(r"^shadowgap text window: cutoff=(\S+) copied=(\d+) pending=(\d+)$")

# The request JSON with its messages emptied and its params kept (as retention leaves it).
_PG_EMPTIED_REQUEST = (
    "jsonb_build_object('messages', '[]'::jsonb, 'params', "
    "coalesce(request -> 'params', '{}'::jsonb))"
)
_CLEARED = {
    "request": _PG_EMPTIED_REQUEST,
    "answer": "NULL",
    "answer_tool_calls": "NULL",
    "error": "NULL",
}


@dataclass
class TextWindowResult:
    partitions: int = 0
    events: int = 0


def cutoff_of(now: datetime, settings: Settings) -> datetime | None:
    """Events received before this lose their text (None: the window is off)."""
    if settings.text_window_minutes <= 0:
        return None
    return now - timedelta(minutes=settings.text_window_minutes)


def _kept_pks() -> list[Any]:
    """Events whose text stays: sampled, or drawn by the reverse shadow."""
    E = models.TrafficEvent
    return [
        exists().where(models.SamplingDecision.event_pk == E.id),
        exists().where(models.ReverseSample.event_pk == E.id),
    ]


def clear_rows(session: Session, cutoff: datetime) -> int:
    """Clear the text of every unkept event received before ``cutoff`` with one UPDATE (the
    SQLite path; on PostgreSQL it would leave dead row versions behind, see the module doc)."""
    E = models.TrafficEvent
    has_text = or_(
        E.answer.is_not(None),
        E.error.is_not(None),
        E.answer_tool_calls.is_not(None),
        func.json_array_length(E.request, "$.messages") > 0,
    )
    emptied = func.json_object(
        "messages",
        func.json_array(),
        "params",
        func.json(func.coalesce(func.json_extract(E.request, "$.params"), "{}")),
    )
    result = session.execute(
        update(E)
        .where(E.received_at < cutoff, has_text, not_(or_(*_kept_pks())))
        .values(request=emptied, answer=None, answer_tool_calls=None, error=None)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def due_partitions(session: Session, cutoff: datetime) -> list[partitions.Partition]:
    """Day partitions whose day ended before the cutoff and that hold text to clear: never
    done, done while some rows were still inside the window, or grown since."""
    conn = session.connection()
    due: list[partitions.Partition] = []
    for partition in partitions.list_partitions(conn):
        if partitions.day_bounds(partition.day)[1] > cutoff:
            continue
        mark = _MARK.match(partition.comment or "")
        if mark is None:
            due.append(partition)
            continue
        copied, pending = int(mark.group(2)), int(mark.group(3))
        inserted = conn.execute(
            text(
                "SELECT coalesce(n_tup_ins, 0) FROM pg_stat_user_tables WHERE relid = "
                "to_regclass(:name)"
            ),
            {"name": partition.name},
        ).scalar()
        if pending > 0 or int(inserted or 0) > copied:
            due.append(partition)
    return due


def _columns(conn: Connection) -> list[str]:
    return list(
        conn.execute(
            text(
                "SELECT attname FROM pg_attribute WHERE attrelid = to_regclass(:t) "
                "AND attnum > 0 AND NOT attisdropped ORDER BY attnum"
            ),
            {"t": partitions.PARENT},
        ).scalars()
    )


def rewrite_partition(session: Session, partition: partitions.Partition, cutoff: datetime) -> int:
    """Copy one day partition with the unkept events' text cleared and swap it in; returns
    how many events lost their text. Never commits: the caller commits (one partition per
    transaction, so the parent's lock is held only for one swap)."""
    conn = session.connection()
    name, new = partition.name, f"{partition.name}_new"
    parent = partitions.PARENT
    conn.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
    conn.execute(text(f'LOCK TABLE "{name}" IN SHARE MODE'))
    columns = _columns(conn)
    keep = (
        "(t.received_at >= :cutoff "
        "OR EXISTS (SELECT 1 FROM sampling_decisions d WHERE d.event_pk = t.id) "
        "OR EXISTS (SELECT 1 FROM reverse_samples r WHERE r.event_pk = t.id))"
    )
    selected = ", ".join(
        f"CASE WHEN k.keep THEN k.{c} ELSE {_CLEARED[c]} END" if c in _CLEARED else f"k.{c}"
        for c in columns
    )
    conn.execute(text(f'CREATE TABLE "{new}" (LIKE {parent} INCLUDING DEFAULTS)'))
    copied = conn.execute(
        text(
            f'INSERT INTO "{new}" ({", ".join(columns)}) SELECT {selected} '
            f'FROM (SELECT t.*, {keep} AS keep FROM "{name}" t) k'
        ),
        {"cutoff": cutoff},
    ).rowcount
    cleared, pending = conn.execute(
        text(
            f"SELECT count(*) FILTER (WHERE NOT {keep} AND (t.answer IS NOT NULL "
            "OR t.error IS NOT NULL OR t.answer_tool_calls IS NOT NULL "
            "OR jsonb_array_length(t.request -> 'messages') > 0)), "
            f'count(*) FILTER (WHERE t.received_at >= :cutoff) FROM "{name}" t'
        ),
        {"cutoff": cutoff},
    ).one()
    _index_like_parent(conn, new)
    start, end = partitions.day_bounds(partition.day)
    bounds = f"'{start.isoformat()}'::timestamptz", f"'{end.isoformat()}'::timestamptz"
    conn.execute(
        text(
            f'ALTER TABLE "{new}" ADD CONSTRAINT "{new}_range" CHECK '
            f"(occurred_at >= {bounds[0]} AND occurred_at < {bounds[1]})"
        )
    )
    # The swap: catalog changes only (the indexes and the range check are already there).
    conn.execute(text(f'ALTER TABLE {parent} DETACH PARTITION "{name}"'))
    conn.execute(text(f'DROP TABLE "{name}"'))
    conn.execute(text(f'ALTER TABLE "{new}" RENAME TO "{name}"'))
    for suffix in ("pkey", "event_id_occurred_at_key", "occurred_at_idx", "segment_id_id_idx"):
        conn.execute(text(f'ALTER INDEX "{new}_{suffix}" RENAME TO "{name}_{suffix}"'))
    conn.execute(
        text(
            f'ALTER TABLE {parent} ATTACH PARTITION "{name}" '
            f"FOR VALUES FROM ({bounds[0]}) TO ({bounds[1]})"
        )
    )
    conn.execute(text(f'ALTER TABLE "{name}" DROP CONSTRAINT "{new}_range"'))
    mark = f"shadowgap text window: cutoff={cutoff.isoformat()} copied={copied} pending={pending}"
    conn.execute(text(f"COMMENT ON TABLE \"{name}\" IS '{mark}'"))
    return int(cleared)


def _index_like_parent(conn: Connection, table: str) -> None:
    """The partition's indexes and foreign key built before the swap, so the attach only
    matches them to the parent's (it would build any the parent has and these lack)."""
    conn.execute(text(f'ALTER TABLE "{table}" ADD PRIMARY KEY (id, occurred_at)'))
    conn.execute(
        text(
            f'ALTER TABLE "{table}" ADD CONSTRAINT "{table}_event_id_occurred_at_key" '
            "UNIQUE (event_id, occurred_at)"
        )
    )
    conn.execute(text(f'CREATE INDEX "{table}_occurred_at_idx" ON "{table}" (occurred_at)'))
    conn.execute(text(f'CREATE INDEX "{table}_segment_id_id_idx" ON "{table}" (segment_id, id)'))
    conn.execute(
        text(
            f'ALTER TABLE "{table}" ADD CONSTRAINT "{table}_segment_id_fkey" '
            "FOREIGN KEY (segment_id) REFERENCES segments (id)"
        )
    )


def run(
    open_session: Callable[[], AbstractContextManager[Session]], now: datetime, settings: Settings
) -> TextWindowResult:
    """One pass (the beat task's body): partitions ahead, then the text of unkept events past
    the window cleared, each partition in a transaction of its own (``open_session`` gives a
    session that commits when its block ends)."""
    result = TextWindowResult()
    with open_session() as session:
        engine = session.get_bind().engine
    partitions.ensure_ahead(engine, now, settings.partition_days_ahead)
    cutoff = cutoff_of(now, settings)
    if cutoff is None:
        return result
    with open_session() as session:
        if not partitions.is_partitioned(session.connection()):
            result.events = clear_rows(session, cutoff)
            return result
        due = due_partitions(session, cutoff)
    for partition in due:
        with open_session() as session:
            result.events += rewrite_partition(session, partition, cutoff)
        result.partitions += 1
    return result
