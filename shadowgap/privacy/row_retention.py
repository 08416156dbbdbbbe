"""Row retention: events whose event time is older than ``SHADOWGAP_EVENT_ROW_DAYS`` are
deleted, with every row that points at them, so the database stops growing with every event
ever received.

The cutoff is a UTC midnight: the start of the day ``event_row_days`` before now. Deleted:
the events and their slice features, and the rows that point at an event by id (no foreign
keys, see docs/operations.md "Storage"): sampling decisions, reverse samples, shadow runs,
verdicts, pending originals, and the registry rows of text copies, whose copies are first
forgotten as retention forgets them (alert examples keep their ids and verdict, payloads
become tombstones, outbox files go). Kept: segments and their counters, detector states, drift
events, alerts, reports, the cost ledger, router changes: aggregates that outlive the rows.

PostgreSQL drops whole days (``shadowgap/db/partitions.py``): every day partition that ended
before the cutoff is detached and renamed in one short transaction that takes the parents'
lock with NOWAIT, and failing that with a 100 ms lock timeout (each retried a few times; on
a database that stays busy the next run tries again), so ingest never waits behind it for
more than that, then, one day per transaction, the rows pointing at
its events are deleted and its tables dropped, which hands their files back at once. Rows in
the default partition (written by scripts, or for a day after it was dropped) and SQLite's
one table are deleted by event time in chunks of :data:`BATCH` events, each chunk its own
transaction. The holes of the event horizon no reader needs any more go in the same run
(``shadowgap.db.event_horizon.prune_holes``). Idempotent; runs daily from
``privacy.retention`` after text retention, so copies have lost their text already.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, column, delete, exists, select, table, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from shadowgap.config import Settings
from shadowgap.db import event_horizon, models, partitions
from shadowgap.privacy import copies

# Events per chunk where rows are deleted one by one (SQLite, the default partition).
BATCH = 1000
# The parents' lock is first asked for with NOWAIT, NOWAIT_ATTEMPTS times PAUSE seconds apart:
# taken only at an instant when no transaction uses the tables, it never makes an insert wait.
# Under steady ingest such an instant may not come, so then WAIT_ATTEMPTS requests that queue
# for at most LOCK_TIMEOUT each (ingest's transactions last milliseconds: the request is
# granted within it unless a long read holds the tables); an insert behind one waits that long
# at most. After that the days wait for the next run.
NOWAIT_ATTEMPTS = 20
WAIT_ATTEMPTS = 10
PAUSE = 0.1
# Also bounds the wait for a partition's own lock while the parents are held (the parents'
# lock makes ingest wait meanwhile), and the detached tables' when they are dropped.
LOCK_TIMEOUT = "100ms"
# SQLSTATEs of a lock that was not granted (NOWAIT, lock_timeout) and of a deadlock (the text
# window locks a partition, then the parents): the attempt is retried.
_BUSY = {"55P03", "40P01"}
# The event's dependants and its text-copy registry rows (the copies are forgotten first,
# module doc); slice features go with their day partition, or below with the events.
DEPENDANTS: tuple[Any, ...] = (*models.EVENT_DEPENDANTS, models.TextCopy)

OpenSession = Callable[[], AbstractContextManager[Session]]


@dataclass
class RowRetentionResult:
    # Days whose partitions were dropped (ISO dates).
    days: list[str] = field(default_factory=list)
    # Events deleted: exact for rows deleted one by one, PostgreSQL's statistics for dropped
    # partitions (counting a dropped day would read all of it).
    events: int = 0
    # Rows deleted from each dependant table.
    dependants: dict[str, int] = field(default_factory=dict)
    alerts: int = 0
    deliveries: int = 0
    outbox_files: int = 0
    holes: int = 0
    # The parents' lock was never free: the due days wait for the next run.
    busy: bool = False

    def log_fields(self) -> dict[str, Any]:
        """Counts and days only (never text), flat, for the job's log line."""
        return {
            "days": self.days,
            "events": self.events,
            **{f"deleted_{name}": n for name, n in sorted(self.dependants.items())},
            "alerts": self.alerts,
            "deliveries": self.deliveries,
            "outbox_files": self.outbox_files,
            "holes": self.holes,
            "busy": self.busy,
        }


def cutoff_of(now: datetime, settings: Settings) -> datetime | None:
    """Events before this go (None: row retention is off). A UTC midnight, so that both
    backends delete the same rows: whole days."""
    if settings.event_row_days <= 0:
        return None
    day = (now.astimezone(UTC) - timedelta(days=settings.event_row_days)).date()
    return partitions.day_bounds(day)[0]


def run(open_session: OpenSession, now: datetime, settings: Settings) -> RowRetentionResult:
    """One pass (the daily job's body; ``open_session`` gives a session that commits when its
    block ends)."""
    result = RowRetentionResult()
    cutoff = cutoff_of(now, settings)
    outbox_dir = settings.alert_outbox_dir
    with open_session() as session:
        partitioned = partitions.is_partitioned(session.connection())
    if partitioned:
        # First what a run that stopped between the two steps left (a day detached again
        # would take the same name), then the days due now.
        _drop_expired(open_session, outbox_dir, result)
        if cutoff is not None:
            result.busy = not _detach(open_session, cutoff)
            _drop_expired(open_session, outbox_dir, result)
    if cutoff is not None:
        _delete_rows(open_session, cutoff, partitioned, outbox_dir, result)
    with open_session() as session:
        result.holes = event_horizon.prune_holes(session)
    return result


def _drop_expired(open_session: OpenSession, outbox_dir: str, result: RowRetentionResult) -> None:
    with open_session() as session:
        expired = partitions.expired_days(session.connection())
    for day in expired:
        with open_session() as session:
            _drop_day(session, day, outbox_dir, result)


def _detach(open_session: OpenSession, cutoff: datetime) -> bool:
    """Detach every day partition that ended by the cutoff; False when the parents' lock was
    never free."""
    with open_session() as session:
        due = [
            p.day
            for p in partitions.list_partitions(session.connection())
            if partitions.day_bounds(p.day)[1] <= cutoff
        ]
    if not due:
        return True
    attempts = [False] * NOWAIT_ATTEMPTS + [True] * WAIT_ATTEMPTS
    for n, wait in enumerate(attempts):
        try:
            with open_session() as session:
                partitions.detach_days(session.connection(), due, LOCK_TIMEOUT, wait)
            return True
        except OperationalError as exc:
            if getattr(exc.orig, "sqlstate", None) not in _BUSY:
                raise
        if n + 1 < len(attempts):
            time.sleep(PAUSE)
    return False


def _drop_day(session: Session, day: date, outbox_dir: str, result: RowRetentionResult) -> None:
    """Delete what points at a detached day's events, then drop its tables (never commits)."""
    conn = session.connection()
    conn.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
    name = partitions.expired_name(day)
    if conn.execute(text("SELECT to_regclass(:n)"), {"n": name}).scalar() is not None:
        lo, hi = conn.execute(text(f'SELECT min(id), max(id) FROM "{name}"')).one()
        if lo is not None:
            # A day's ids are one range but for late and backfilled events: the range finds
            # the candidates by index, the day's primary key confirms each one.
            events = table(name, column("id"))

            def of_day(model: Any) -> ColumnElement[bool]:
                return model.event_pk.between(lo, hi) & exists(
                    select(events.c.id).where(events.c.id == model.event_pk)
                )

            _delete_dependants(session, of_day, outbox_dir, result)
        result.events += int(
            conn.execute(
                text(
                    # Never analysed (-1): the activity counters instead.
                    "SELECT (CASE WHEN c.reltuples >= 0 THEN c.reltuples "
                    "ELSE coalesce(s.n_live_tup, 0) END)::bigint "
                    "FROM pg_class c LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid "
                    "WHERE c.oid = to_regclass(:n)"
                ),
                {"n": name},
            ).scalar()
            or 0
        )
    partitions.drop_expired(conn, day)
    if day.isoformat() not in result.days:
        result.days.append(day.isoformat())


def _delete_rows(
    open_session: OpenSession,
    cutoff: datetime,
    partitioned: bool,
    outbox_dir: str,
    result: RowRetentionResult,
) -> None:
    """Delete events before the cutoff one chunk at a time: SQLite's table, or PostgreSQL's
    default partition (a day partition not detached yet is left for the next run, never
    emptied row by row)."""
    E, F = models.TrafficEvent, models.SliceFeatures
    default = partitions.default_name(partitions.PARENT)
    if partitioned:
        with open_session() as session:
            if session.scalar(text("SELECT to_regclass(:n)"), {"n": default}) is None:
                return
    while True:
        with open_session() as session:
            if partitioned:
                found = session.scalars(
                    text(
                        f'SELECT id FROM "{default}" '
                        "WHERE occurred_at < :cutoff ORDER BY id LIMIT :n"
                    ),
                    {"cutoff": cutoff, "n": BATCH},
                )
            else:
                found = session.scalars(
                    select(E.id).where(E.occurred_at < cutoff).order_by(E.id).limit(BATCH)
                )
            ids = [int(pk) for pk in found]
            if not ids:
                return
            _delete_dependants(session, _among(ids), outbox_dir, result)
            session.execute(delete(F).where(F.event_pk.in_(ids), F.occurred_at < cutoff))
            deleted = session.execute(delete(E).where(E.id.in_(ids), E.occurred_at < cutoff))
            result.events += int(getattr(deleted, "rowcount", 0) or 0)


def _among(ids: list[int]) -> Callable[[Any], ColumnElement[bool]]:
    def condition(model: Any) -> ColumnElement[bool]:
        return model.event_pk.in_(ids)  # type: ignore[no-any-return]

    return condition


def _delete_dependants(
    session: Session,
    of_events: Callable[[Any], ColumnElement[bool]],
    outbox_dir: str,
    result: RowRetentionResult,
) -> None:
    """Forget the text copies quoting the events ``of_events`` selects (a condition on a
    dependant model's ``event_pk``), then delete every dependant row of them."""
    quoted = session.scalars(select(models.TextCopy.event_pk).where(of_events(models.TextCopy)))
    forgotten = copies.forget(session, set(quoted), "retention", outbox_dir)
    result.alerts += forgotten.alerts
    result.deliveries += forgotten.deliveries
    result.outbox_files += forgotten.outbox_files
    for model in DEPENDANTS:
        deleted = session.execute(
            delete(model).where(of_events(model)).execution_options(synchronize_session=False)
        )
        name = model.__tablename__
        result.dependants[name] = result.dependants.get(name, 0) + int(
            getattr(deleted, "rowcount", 0) or 0
        )
