"""The text window: prompt and answer text of events nobody will re-run or show is cleared.

Only sampled events are ever re-run, judged and shown (``sampling_decisions``), and the reverse
shadow re-runs flagship-routed events it draws from the last 15 minutes of arrivals
(``reverse_samples``). Every other event needs its text only at ingest (slice features, answer
checks, sampling and exploration's draw are all computed there) and while the reverse shadow may
still draw it. So once an event was received ``SHADOWGAP_TEXT_WINDOW_MINUTES`` ago, and it has
no sampling decision and no reverse sample, its text is cleared the way retention clears it:
request messages emptied (generation params kept), answer, tool calls and error set to NULL,
and the prompt's fingerprint (``prompt_hash``, read only for re-runs) emptied too: a hash of a
short prompt gives the prompt away to anyone who can guess it.
The event's slice feature values (``slice_features.features``, derived from the text) follow
once its event time is ``SHADOWGAP_SLICE_FEATURE_DAYS`` old: besides the draw at ingest and
discovery's judged events, exploration's traffic movers read every request's features over
the last eight days. Its user and hour stay, for the cadence feature. Every number, flag,
hash and segment stays. Sampled events keep their text until retention
(``shadowgap/privacy/retention.py``), so no text is cleared before its verdict.

PostgreSQL clears a whole day at a time, once the day has ended and the window has passed:
it copies the day's partitions (events and slice features) into new tables with the text
cleared and swaps them in, so the old row versions go with the old files (an UPDATE would
leave them behind as dead space that only a VACUUM FULL gives back). The copy runs under a
SHARE lock on those partitions only (reads go on; a late event for that day waits); the swap
(detach, drop, rename, attach) takes the parents' ACCESS EXCLUSIVE lock for a catalog-only
moment, bounded by ``LOCK_TIMEOUT`` (on timeout the run gives up and the next one retries).
The events partition's comment records the cutoff and how many rows it copied; the day is done
again when rows arrive later (a backfill) or when it kept rows still inside the window. SQLite
keeps one table each and clears with UPDATEs.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, exists, func, not_, or_, select, text, update
from sqlalchemy.orm import Session

from shadowgap.config import Settings
from shadowgap.db import models, partitions

LOCK_TIMEOUT = "5s"
_MARK = re.compile(
    r"^shadowgap text window: cutoff=(\S+) copied=(\d+) pending=(\d+) features=([01])$"
)

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
    "prompt_hash": "''",
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


def features_cutoff_of(now: datetime, settings: Settings, cutoff: datetime) -> datetime:
    """Events older than this (event time) lose their slice feature values too."""
    return min(cutoff, now - timedelta(days=settings.slice_feature_days))


def _kept_pks() -> list[Any]:
    """Events whose text stays: sampled, or drawn by the reverse shadow."""
    E = models.TrafficEvent
    return [
        exists().where(models.SamplingDecision.event_pk == E.id),
        exists().where(models.ReverseSample.event_pk == E.id),
    ]


def clear_rows(session: Session, cutoff: datetime, features_cutoff: datetime) -> int:
    """Clear the text (and slice features) of every unkept event received before ``cutoff``
    with UPDATEs (the SQLite path; on PostgreSQL they would leave dead row versions behind,
    see the module doc)."""
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
    sf = models.SliceFeatures
    unkept = select(E.id).where(E.received_at < cutoff, not_(or_(*_kept_pks())))
    session.execute(
        update(sf)
        .where(
            sf.event_pk.in_(unkept),
            sf.occurred_at < features_cutoff,
            func.json(sf.features) != "{}",
        )
        .values(features={})
        .execution_options(synchronize_session=False)
    )
    result = session.execute(
        update(E)
        .where(E.received_at < cutoff, has_text, not_(or_(*_kept_pks())))
        .values(request=emptied, answer=None, answer_tool_calls=None, error=None, prompt_hash="")
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def due_partitions(
    session: Session, cutoff: datetime, features_cutoff: datetime
) -> list[partitions.Partition]:
    """Days that ended before the cutoff and hold text to clear: never done, done while some
    rows were still inside the window, grown since, or done before their slice features were
    old enough to empty and now are."""
    conn = session.connection()
    due: list[partitions.Partition] = []
    for partition in partitions.list_partitions(conn):
        day_end = partitions.day_bounds(partition.day)[1]
        if day_end > cutoff:
            continue
        mark = _MARK.match(partition.comment or "")
        if mark is None:
            due.append(partition)
            continue
        copied, pending = int(mark.group(2)), int(mark.group(3))
        features_done = mark.group(4) == "1"
        inserted = conn.execute(
            text(
                "SELECT coalesce(n_tup_ins, 0) FROM pg_stat_user_tables WHERE relid = "
                "to_regclass(:name)"
            ),
            {"name": partition.name},
        ).scalar()
        if (
            pending > 0
            or int(inserted or 0) > copied
            or (not features_done and day_end <= features_cutoff)
        ):
            due.append(partition)
    return due


def _columns(conn: Connection, table: str) -> list[str]:
    return list(
        conn.execute(
            text(
                "SELECT attname FROM pg_attribute WHERE attrelid = to_regclass(:t) "
                "AND attnum > 0 AND NOT attisdropped ORDER BY attnum"
            ),
            {"t": table},
        ).scalars()
    )


# Per partitioned table: whether a row's text stays (SQL on the partition's row ``t``; ``{events}``
# is the same day's traffic_events partition), its cleared columns, and the constraints and
# indexes of one of its partitions as ``(name suffix, DDL after "ALTER TABLE x ")`` pairs, or
# ``(name suffix, None)`` for an index built by ``CREATE INDEX`` on the listed columns.
_KEPT = (
    "EXISTS (SELECT 1 FROM sampling_decisions d WHERE d.event_pk = {pk}) "
    "OR EXISTS (SELECT 1 FROM reverse_samples r WHERE r.event_pk = {pk})"
)
_LAYOUT: dict[str, dict[str, Any]] = {
    "traffic_events": {
        "keep": "t.received_at >= :cutoff OR " + _KEPT.format(pk="t.id"),
        "cleared": _CLEARED,
        "constraints": [
            ("pkey", "PRIMARY KEY (id, occurred_at)"),
            ("event_id_occurred_at_key", "UNIQUE (event_id, occurred_at)"),
            ("segment_id_fkey", "FOREIGN KEY (segment_id) REFERENCES segments (id)"),
        ],
        "indexes": [("occurred_at_idx", "occurred_at"), ("segment_id_id_idx", "segment_id, id")],
    },
    "slice_features": {
        "keep": "EXISTS (SELECT 1 FROM {events} e WHERE e.id = t.event_pk "
        "AND e.received_at >= :cutoff) OR " + _KEPT.format(pk="t.event_pk"),
        "cleared": {"features": "'{}'::jsonb"},
        "constraints": [("pkey", "PRIMARY KEY (event_pk, occurred_at)")],
        "indexes": [("occurred_at_idx", "occurred_at")],
    },
}


def rewrite_partition(
    session: Session,
    partition: partitions.Partition,
    cutoff: datetime,
    features_cutoff: datetime,
) -> int:
    """Copy one day's partitions (events and their slice features) with the unkept events'
    text cleared and swap them in; returns how many events lost their text. Never commits:
    the caller commits (one day per transaction, so the parents' locks are held only for one
    swap)."""
    conn = session.connection()
    day = partition.day
    events = partitions.partition_name(day)
    conn.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
    for table in partitions.TABLES:
        conn.execute(text(f'LOCK TABLE "{partitions.partition_name(day, table)}" IN SHARE MODE'))
    keep = f"({_LAYOUT['traffic_events']['keep']})"
    cleared, pending = conn.execute(
        text(
            f"SELECT count(*) FILTER (WHERE NOT {keep} AND (t.answer IS NOT NULL "
            "OR t.error IS NOT NULL OR t.answer_tool_calls IS NOT NULL "
            "OR jsonb_array_length(t.request -> 'messages') > 0)), "
            f'count(*) FILTER (WHERE t.received_at >= :cutoff) FROM "{events}" t'
        ),
        {"cutoff": cutoff},
    ).one()
    # Slice features first (their keep rule reads the events partition before it is swapped),
    # once the day is past the movers' horizon.
    features = partitions.day_bounds(day)[1] <= features_cutoff
    if features:
        _swap(conn, "slice_features", day, cutoff)
    copied = _swap(conn, "traffic_events", day, cutoff)
    mark = (
        f"shadowgap text window: cutoff={cutoff.isoformat()} copied={copied} "
        f"pending={pending} features={int(features)}"
    )
    conn.execute(text(f"COMMENT ON TABLE \"{events}\" IS '{mark}'"))
    return int(cleared)


def _swap(conn: Connection, table: str, day: date, cutoff: datetime) -> int:
    """Copy ``table``'s partition of ``day`` with the unkept rows' text cleared into a new
    table, index it, and put it in the old one's place; returns the rows copied."""
    layout = _LAYOUT[table]
    name = partitions.partition_name(day, table)
    new = f"{name}_new"
    keep = layout["keep"].format(events=f'"{partitions.partition_name(day)}"')
    columns = _columns(conn, table)
    selected = ", ".join(
        f"CASE WHEN k.keep THEN k.{c} ELSE {layout['cleared'][c]} END"
        if c in layout["cleared"]
        else f"k.{c}"
        for c in columns
    )
    conn.execute(text(f'CREATE TABLE "{new}" (LIKE {table} INCLUDING DEFAULTS)'))
    copied = conn.execute(
        text(
            f'INSERT INTO "{new}" ({", ".join(columns)}) SELECT {selected} '
            f'FROM (SELECT t.*, ({keep}) AS keep FROM "{name}" t) k'
        ),
        {"cutoff": cutoff},
    ).rowcount
    # Built before the swap, so the attach only matches them to the parent's (it would build
    # any the parent has and these lack, holding the parent's lock meanwhile).
    for suffix, ddl in layout["constraints"]:
        conn.execute(text(f'ALTER TABLE "{new}" ADD CONSTRAINT "{new}_{suffix}" {ddl}'))
    for suffix, columns_sql in layout["indexes"]:
        conn.execute(text(f'CREATE INDEX "{new}_{suffix}" ON "{new}" ({columns_sql})'))
    start, end = partitions.day_bounds(day)
    bounds = f"'{start.isoformat()}'::timestamptz", f"'{end.isoformat()}'::timestamptz"
    conn.execute(
        text(
            f'ALTER TABLE "{new}" ADD CONSTRAINT "{new}_range" CHECK '
            f"(occurred_at >= {bounds[0]} AND occurred_at < {bounds[1]})"
        )
    )
    # The swap: catalog changes only (the indexes and the range check are already there).
    conn.execute(text(f'ALTER TABLE {table} DETACH PARTITION "{name}"'))
    conn.execute(text(f'DROP TABLE "{name}"'))
    conn.execute(text(f'ALTER TABLE "{new}" RENAME TO "{name}"'))
    for suffix, _ in layout["constraints"]:
        conn.execute(
            text(f'ALTER TABLE "{name}" RENAME CONSTRAINT "{new}_{suffix}" TO "{name}_{suffix}"')
        )
    for suffix, _ in layout["indexes"]:
        conn.execute(text(f'ALTER INDEX "{new}_{suffix}" RENAME TO "{name}_{suffix}"'))
    conn.execute(
        text(
            f'ALTER TABLE {table} ATTACH PARTITION "{name}" '
            f"FOR VALUES FROM ({bounds[0]}) TO ({bounds[1]})"
        )
    )
    conn.execute(text(f'ALTER TABLE "{name}" DROP CONSTRAINT "{new}_range"'))
    return int(copied)


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
    features_cutoff = features_cutoff_of(now, settings, cutoff)
    with open_session() as session:
        if not partitions.is_partitioned(session.connection()):
            result.events = clear_rows(session, cutoff, features_cutoff)
            return result
        due = due_partitions(session, cutoff, features_cutoff)
    for partition in due:
        with open_session() as session:
            result.events += rewrite_partition(session, partition, cutoff, features_cutoff)
        result.partitions += 1
    return result
