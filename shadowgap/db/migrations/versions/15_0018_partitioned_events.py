"""partitioned traffic_events and slice_features: daily range partitions by event time on
PostgreSQL

Revision ID: 0018
Revises: 0021
Create Date: 2026-12-07 23:30:00

PostgreSQL: ``traffic_events`` becomes a table partitioned by range of ``occurred_at``, one
partition per UTC day (``shadowgap/db/partitions.py``). A unique key of a partitioned table
must hold the partition key, so the primary key becomes ``(id, occurred_at)`` and redelivery
dedup moves from ``event_id`` to ``(event_id, occurred_at)``; a foreign key to it would need
the event time in every referencing row, so the foreign keys from ``sampling_decisions``,
``reverse_samples``, ``shadow_runs``, ``verdicts``, ``pending_originals`` and
``slice_features`` go (purge deletes those rows with their events). ``slice_features``, one
row per event with the event's time, is partitioned the same way (primary key ``(event_pk,
occurred_at)``), so the text window rewrites an event's day in both at once. The existing rows
are copied into the partitions with their ids; the id sequence is kept. A default partition
catches rows written for a day without a partition by anything but ingest.

SQLite keeps one table: the same dedup key and no foreign keys to events, so both backends
behave alike.

Downgrade copies the rows back into one table; it fails if two stored events share an
event_id (possible only after this revision, with different event times).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from alembic import op

from shadowgap.db.partitions import create_partition_ddl, default_name

revision = "0018"
down_revision = "0021"
branch_labels = None
depends_on = None

# (table, column) of every reference to traffic_events.id.
REFERENCES = [
    ("sampling_decisions", "event_pk"),
    ("reverse_samples", "event_pk"),
    ("shadow_runs", "event_pk"),
    ("verdicts", "event_pk"),
    ("pending_originals", "event_pk"),
    ("slice_features", "event_pk"),
]
OLD_UNIQUE = "uq_traffic_events_event_id"
NEW_UNIQUE = "uq_traffic_events_event_id_occurred_at"
# Days created ahead by the migration (beat keeps creating them from then on).
DAYS_AHEAD = 3


def _fk(table: str) -> str:
    return f"fk_{table}_event_pk_traffic_events"


def upgrade() -> None:
    bind = op.get_bind()
    for table, _ in REFERENCES:
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(_fk(table), type_="foreignkey")
    if bind.dialect.name != "postgresql":
        with op.batch_alter_table("traffic_events") as batch:
            batch.drop_constraint(OLD_UNIQUE, type_="unique")
            batch.create_unique_constraint(NEW_UNIQUE, ["event_id", "occurred_at"])
        return
    _partition(bind)


# Per partitioned table: its primary key (with the partition key), unique keys, foreign keys
# and indexes, as the new parent gets them (names follow the models' naming convention).
LAYOUT: dict[str, dict[str, Any]] = {
    "traffic_events": {
        "pk": ("id", "occurred_at"),
        "unique": {NEW_UNIQUE: ("event_id", "occurred_at")},
        "old_unique": {OLD_UNIQUE: ("event_id",)},
        "fks": {"fk_traffic_events_segment_id_segments": ("segment_id", "segments (id)")},
        "indexes": {
            "ix_traffic_events_occurred_at": ("occurred_at",),
            "ix_traffic_events_segment_id_id": ("segment_id", "id"),
        },
        "old_pk": ("id",),
        "sequence": "traffic_events_id_seq",
    },
    "slice_features": {
        "pk": ("event_pk", "occurred_at"),
        "unique": {},
        "old_unique": {},
        "fks": {},
        "indexes": {"ix_slice_features_occurred_at": ("occurred_at",)},
        "old_pk": ("event_pk",),
        "sequence": None,
    },
}


def _partition(bind: sa.Connection) -> None:
    """Per table: rename it away, create the partitioned one, copy the rows, drop the old."""
    for table, layout in LAYOUT.items():
        _rebuild(table, layout, partitioned=True)
        op.execute(f"CREATE TABLE {default_name(table)} PARTITION OF {table} DEFAULT")
    for day in _days(bind):
        create_partition_ddl(bind, day)
    for table in LAYOUT:
        op.execute(f"INSERT INTO {table} SELECT * FROM {table}_old")
        op.execute(f"DROP TABLE {table}_old")


def _rebuild(table: str, layout: dict[str, Any], *, partitioned: bool) -> None:
    """Move ``table`` aside as ``<table>_old`` and create it again, partitioned or not."""
    unique = layout["unique"] if partitioned else layout["old_unique"]
    old_unique = layout["old_unique"] if partitioned else layout["unique"]
    op.execute(f"ALTER TABLE {table} RENAME TO {table}_old")
    op.execute(f"ALTER TABLE {table}_old RENAME CONSTRAINT pk_{table} TO pk_{table}_old")
    for name in old_unique:
        op.execute(f"ALTER TABLE {table}_old RENAME CONSTRAINT {name} TO {name}_old")
    for name in layout["indexes"]:
        op.execute(f"ALTER INDEX {name} RENAME TO {name}_old")
    suffix = " PARTITION BY RANGE (occurred_at)" if partitioned else ""
    op.execute(f"CREATE TABLE {table} (LIKE {table}_old INCLUDING DEFAULTS){suffix}")
    pk = layout["pk"] if partitioned else layout["old_pk"]
    op.execute(f"ALTER TABLE {table} ADD CONSTRAINT pk_{table} PRIMARY KEY ({', '.join(pk)})")
    for name, columns in unique.items():
        op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} UNIQUE ({', '.join(columns)})")
    for name, (column, target) in layout["fks"].items():
        op.execute(
            f"ALTER TABLE {table} ADD CONSTRAINT {name} FOREIGN KEY ({column}) REFERENCES {target}"
        )
    for name, columns in layout["indexes"].items():
        op.execute(f"CREATE INDEX {name} ON {table} ({', '.join(columns)})")
    if layout["sequence"]:
        op.execute(f"ALTER SEQUENCE {layout['sequence']} OWNED BY {table}.id")


def _days(bind: sa.Connection) -> list[date]:
    """Every day holding a stored event, and today and the next few."""
    days = {
        d
        for (d,) in bind.execute(
            sa.text(
                "SELECT DISTINCT (occurred_at AT TIME ZONE 'UTC')::date FROM traffic_events_old"
            )
        )
    }
    today = datetime.now(UTC).date()
    days.update(today + timedelta(days=n) for n in range(DAYS_AHEAD + 1))
    return sorted(days)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        _unpartition()
    else:
        with op.batch_alter_table("traffic_events") as batch:
            batch.drop_constraint(NEW_UNIQUE, type_="unique")
            batch.create_unique_constraint(OLD_UNIQUE, ["event_id"])
    for table, column in REFERENCES:
        with op.batch_alter_table(table) as batch:
            batch.create_foreign_key(_fk(table), "traffic_events", [column], ["id"])


def _unpartition() -> None:
    for table, layout in LAYOUT.items():
        _rebuild(table, layout, partitioned=False)
        op.execute(f"INSERT INTO {table} SELECT * FROM {table}_old")
        op.execute(f"DROP TABLE {table}_old")
