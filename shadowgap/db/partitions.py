"""Daily range partitions of ``traffic_events`` and of its per-event side table
``slice_features``, by event time (PostgreSQL only; SQLite keeps one table each and every
function here is a no-op there).

A partition covers one UTC day of ``occurred_at``, ``[day, day + 1)``, and is named
``<table>_pYYYYMMDD``; both tables always have the same days, so an event and its slice
features live in the same day. Ingest makes sure an event's day has its partitions before it
inserts the event; a row written by anything else for a day without one (a script, a test
fixture) lands in the table's default partition (``<table>_default``), and moves into its day's
partition when that day's is created. Beat creates today's and the next
``SHADOWGAP_PARTITION_DAYS_AHEAD`` days' (``privacy.text_window``), and ingest creates any other
day a batch needs on demand (a backfill, a sender's clock ahead), on a connection of its own,
before its transaction takes any lock.

Creating a partition is ``CREATE TABLE ... (LIKE traffic_events)`` and then ``ATTACH
PARTITION``: attaching takes a SHARE UPDATE EXCLUSIVE lock on the parent, which concurrent
inserts and reads do not wait for (``CREATE TABLE ... PARTITION OF`` would take ACCESS
EXCLUSIVE). A CHECK constraint matching the range lets the attach skip its validating scan.
Two processes creating the same day serialise on a transaction-level advisory lock.

Row retention (``shadowgap/privacy/row_retention.py``) removes a day in two steps: its
partitions are detached and renamed ``<table>_pYYYYMMDD_expired`` (:func:`detach_days`, a
catalog-only moment under the parents' ACCESS EXCLUSIVE lock, asked for with NOWAIT or a short
lock timeout so that ingest never queues behind it for long: ``DETACH ... CONCURRENTLY`` would
not lock the parents but is refused while a default partition exists), then dropped
(:func:`drop_expired`) once the rows that point at their events are gone. A row that
arrives for a day after it was detached lands in the default partition (or a new partition).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Connection, Engine, text

PARENT = "traffic_events"
# Every table partitioned by its rows' event time, the events first.
TABLES = (PARENT, "slice_features")
# Any constant: it only has to be the same in every process.
_CREATE_LOCK = 0x73677074
# A detached day waiting to be dropped (row retention).
EXPIRED_SUFFIX = "_expired"
# How long creating a partition may wait for the parent's lock before the caller fails (and
# the sender retries): a queued ACCESS EXCLUSIVE request (a text-window swap) must not stall
# ingest behind it.
LOCK_TIMEOUT = "5s"


def partition_name(day: date, table: str = PARENT) -> str:
    return f"{table}_p{day:%Y%m%d}"


def day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return start, start + timedelta(days=1)


@dataclass(frozen=True)
class Partition:
    name: str
    day: date
    comment: str | None


def is_partitioned(conn: Connection) -> bool:
    if conn.dialect.name != "postgresql":
        return False
    kind = conn.execute(
        text("SELECT relkind FROM pg_class WHERE oid = to_regclass(:name)"), {"name": PARENT}
    ).scalar()
    return kind == "p"


def list_partitions(conn: Connection) -> list[Partition]:
    """The attached day partitions, oldest first, with their table comments."""
    if not is_partitioned(conn):
        return []
    rows = conn.execute(
        text(
            "SELECT c.relname, obj_description(c.oid, 'pg_class') FROM pg_inherits i "
            "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = to_regclass(:parent) "
            "ORDER BY c.relname"
        ),
        {"parent": PARENT},
    ).all()
    found: list[Partition] = []
    prefix = f"{PARENT}_p"
    for name, comment in rows:
        if name.startswith(prefix):
            found.append(
                Partition(name, datetime.strptime(name[len(prefix) :], "%Y%m%d").date(), comment)
            )
    return found


def create_partition_ddl(conn: Connection, day: date) -> None:
    """Create and attach one day's partition of every partitioned table in the caller's
    transaction (it must hold ``_CREATE_LOCK`` or be the only writer, e.g. a migration); a
    no-op for a table that has it."""
    for table in TABLES:
        _create_one(conn, table, day)


def default_name(table: str) -> str:
    return f"{table}_default"


def _create_one(conn: Connection, table: str, day: date) -> None:
    name = partition_name(day, table)
    if conn.execute(text("SELECT to_regclass(:n)"), {"n": name}).scalar() is not None:
        return
    start, end = day_bounds(day)
    bounds = f"'{start.isoformat()}'::timestamptz", f"'{end.isoformat()}'::timestamptz"
    conn.execute(text(f'CREATE TABLE "{name}" (LIKE {table} INCLUDING DEFAULTS)'))
    default = default_name(table)
    if conn.execute(text("SELECT to_regclass(:n)"), {"n": default}).scalar() is not None:
        # The day's rows written while it had no partition move in (the attach checks that
        # the default partition holds none of the day's rows any more).
        conn.execute(
            text(
                f'WITH moved AS (DELETE FROM "{default}" WHERE occurred_at >= {bounds[0]} '
                f"AND occurred_at < {bounds[1]} RETURNING *) "
                f'INSERT INTO "{name}" SELECT * FROM moved'
            )
        )
    conn.execute(
        text(
            f'ALTER TABLE "{name}" ADD CONSTRAINT "{name}_range" CHECK '
            f"(occurred_at >= {bounds[0]} AND occurred_at < {bounds[1]})"
        )
    )
    conn.execute(
        text(
            f'ALTER TABLE {table} ATTACH PARTITION "{name}" '
            f"FOR VALUES FROM ({bounds[0]}) TO ({bounds[1]})"
        )
    )
    # The CHECK only served the attach: the partition bound says the same from now on.
    conn.execute(text(f'ALTER TABLE "{name}" DROP CONSTRAINT "{name}_range"'))


class _Known:
    """Days whose partition this process has seen exist, per database: a known day costs no
    query. A day's partition is replaced (text window) and, once older than row retention,
    dropped: a process that still counts it as known then writes that day's rows to the
    default partition, which row retention empties of old rows too."""

    def __init__(self) -> None:
        self._days: set[tuple[str, date]] = set()
        self._lock = threading.Lock()

    def missing(self, database: str, days: Iterable[date]) -> list[date]:
        with self._lock:
            return sorted({d for d in days if (database, d) not in self._days})

    def add(self, database: str, days: Iterable[date]) -> None:
        with self._lock:
            self._days.update((database, d) for d in days)

    def forget(self) -> None:
        with self._lock:
            self._days.clear()


known = _Known()


def ensure_days(engine: Engine, days: Iterable[date]) -> None:
    """Make sure every given day has its partition (no-op on SQLite or an unpartitioned
    table). Runs on a connection of its own and commits there, so the caller's transaction
    sees the partitions and holds none of the locks taken to create them."""
    if engine.dialect.name != "postgresql":
        return
    database = str(engine.url)
    missing = known.missing(database, days)
    if not missing:
        return
    with engine.begin() as conn:
        if not is_partitioned(conn):
            known.add(database, missing)
            return
        conn.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _CREATE_LOCK})
        for day in missing:
            create_partition_ddl(conn, day)
    known.add(database, missing)


def ensure_event_times(engine: Engine, times: Iterable[datetime]) -> None:
    """Partitions for the days of these event times (ingest's on-demand call)."""
    ensure_days(engine, {t.astimezone(UTC).date() for t in times})


def ensure_ahead(engine: Engine, now: datetime, days_ahead: int) -> None:
    """Today's partition and the next ``days_ahead`` days' (beat)."""
    today = now.astimezone(UTC).date()
    ensure_days(engine, [today + timedelta(days=n) for n in range(days_ahead + 1)])


def expired_name(day: date, table: str = PARENT) -> str:
    return f"{partition_name(day, table)}{EXPIRED_SUFFIX}"


def detach_days(conn: Connection, days: Iterable[date], lock_timeout: str, wait: bool) -> None:
    """Detach these days' partitions of every partitioned table and rename them
    :func:`expired_name`, in the caller's transaction (it commits at once: the parents stay
    locked until then). Without ``wait`` the parents' lock is asked for with NOWAIT: when any
    transaction uses them this raises ``LockNotAvailable`` (SQLSTATE 55P03) at once instead of
    queueing, so no insert waits behind the request. With ``wait`` the request queues for at
    most ``lock_timeout``, and so may the inserts behind it. ``lock_timeout`` also bounds the
    wait for the partitions' own locks (the text window's, the default partition's) while the
    parents are held; the caller retries."""
    conn.execute(text(f"SET LOCAL lock_timeout = '{lock_timeout}'"))
    conn.execute(
        text(
            "LOCK TABLE "
            + ", ".join(f"ONLY {table}" for table in TABLES)
            + " IN ACCESS EXCLUSIVE MODE"
            + ("" if wait else " NOWAIT")
        )
    )
    for day in days:
        for table in TABLES:
            name = partition_name(day, table)
            if conn.execute(text("SELECT to_regclass(:n)"), {"n": name}).scalar() is None:
                continue
            conn.execute(text(f'ALTER TABLE {table} DETACH PARTITION "{name}"'))
            conn.execute(text(f'ALTER TABLE "{name}" RENAME TO "{expired_name(day, table)}"'))


def expired_days(conn: Connection) -> list[date]:
    """Days detached by :func:`detach_days` and not dropped yet, oldest first."""
    if conn.dialect.name != "postgresql":
        return []
    names = conn.execute(
        text(
            "SELECT relname FROM pg_class WHERE relkind = 'r' AND pg_table_is_visible(oid) "
            "AND relname LIKE :pattern"
        ),
        {"pattern": f"%{EXPIRED_SUFFIX}"},
    ).scalars()
    days = set()
    for name in names:
        for table in TABLES:
            found = re.fullmatch(rf"{table}_p(\d{{8}}){EXPIRED_SUFFIX}", name)
            if found:
                days.add(datetime.strptime(found.group(1), "%Y%m%d").date())
    return sorted(days)


def drop_expired(conn: Connection, day: date) -> None:
    """Drop a detached day's tables (nothing else uses them: no lock but their own)."""
    for table in TABLES:
        conn.execute(text(f'DROP TABLE IF EXISTS "{expired_name(day, table)}"'))


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    """Alembic's ``include_name`` hook: the day partitions are not in the models (the parent
    is), so schema comparison and autogenerate leave them alone."""
    return not (
        type_ == "table"
        and name is not None
        and any(name.startswith(f"{table}_p") or name == default_name(table) for table in TABLES)
    )
