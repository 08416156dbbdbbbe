"""partitioned traffic_events: daily range partitions by event time on PostgreSQL

Revision ID: 0018
Revises: 0014
Create Date: 2026-12-07 23:30:00

PostgreSQL: ``traffic_events`` becomes a table partitioned by range of ``occurred_at``, one
partition per UTC day (``shadowgap/db/partitions.py``). A unique key of a partitioned table
must hold the partition key, so the primary key becomes ``(id, occurred_at)`` and redelivery
dedup moves from ``event_id`` to ``(event_id, occurred_at)``; a foreign key to it would need
the event time in every referencing row, so the foreign keys from ``sampling_decisions``,
``reverse_samples``, ``shadow_runs``, ``verdicts``, ``pending_originals`` and
``slice_features`` go (purge deletes those rows with their events). The existing rows are
copied into the partitions with their ids; the id sequence is kept.

SQLite keeps one table: the same dedup key and no foreign keys to events, so both backends
behave alike.

Downgrade copies the rows back into one table; it fails if two stored events share an
event_id (possible only after this revision, with different event times).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa
from alembic import op

from shadowgap.db.partitions import create_partition_ddl

revision = "0018"
down_revision = "0014"
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
INDEXES = ("ix_traffic_events_occurred_at", "ix_traffic_events_segment_id_id")
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


def _partition(bind: sa.Connection) -> None:
    """Rename the table away, create the partitioned one, copy the rows, drop the old one."""
    op.execute("ALTER TABLE traffic_events RENAME TO traffic_events_unpartitioned")
    op.execute(
        "ALTER TABLE traffic_events_unpartitioned RENAME CONSTRAINT pk_traffic_events "
        "TO pk_traffic_events_unpartitioned"
    )
    op.execute(
        f"ALTER TABLE traffic_events_unpartitioned RENAME CONSTRAINT {OLD_UNIQUE} "
        f"TO {OLD_UNIQUE}_unpartitioned"
    )
    for index in INDEXES:
        op.execute(f"ALTER INDEX {index} RENAME TO {index}_unpartitioned")
    op.execute(
        "CREATE TABLE traffic_events (LIKE traffic_events_unpartitioned INCLUDING DEFAULTS) "
        "PARTITION BY RANGE (occurred_at)"
    )
    op.execute(
        "ALTER TABLE traffic_events ADD CONSTRAINT pk_traffic_events PRIMARY KEY (id, occurred_at)"
    )
    op.execute(
        f"ALTER TABLE traffic_events ADD CONSTRAINT {NEW_UNIQUE} UNIQUE (event_id, occurred_at)"
    )
    op.execute(
        "ALTER TABLE traffic_events ADD CONSTRAINT fk_traffic_events_segment_id_segments "
        "FOREIGN KEY (segment_id) REFERENCES segments (id)"
    )
    op.execute("CREATE INDEX ix_traffic_events_occurred_at ON traffic_events (occurred_at)")
    op.execute("CREATE INDEX ix_traffic_events_segment_id_id ON traffic_events (segment_id, id)")
    op.execute("ALTER SEQUENCE traffic_events_id_seq OWNED BY traffic_events.id")
    for day in _days(bind):
        create_partition_ddl(bind, day)
    op.execute("INSERT INTO traffic_events SELECT * FROM traffic_events_unpartitioned")
    op.execute("DROP TABLE traffic_events_unpartitioned")


def _days(bind: sa.Connection) -> list[date]:
    """Every day holding a stored event, and today and the next few."""
    days = {
        d
        for (d,) in bind.execute(
            sa.text(
                "SELECT DISTINCT (occurred_at AT TIME ZONE 'UTC')::date "
                "FROM traffic_events_unpartitioned"
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
    op.execute("ALTER TABLE traffic_events RENAME TO traffic_events_partitioned")
    op.execute(
        "ALTER TABLE traffic_events_partitioned RENAME CONSTRAINT pk_traffic_events "
        "TO pk_traffic_events_partitioned"
    )
    op.execute(
        f"ALTER TABLE traffic_events_partitioned RENAME CONSTRAINT {NEW_UNIQUE} "
        f"TO {NEW_UNIQUE}_partitioned"
    )
    for index in INDEXES:
        op.execute(f"ALTER INDEX {index} RENAME TO {index}_partitioned")
    op.execute("CREATE TABLE traffic_events (LIKE traffic_events_partitioned INCLUDING DEFAULTS)")
    op.execute("ALTER TABLE traffic_events ADD CONSTRAINT pk_traffic_events PRIMARY KEY (id)")
    op.execute(f"ALTER TABLE traffic_events ADD CONSTRAINT {OLD_UNIQUE} UNIQUE (event_id)")
    op.execute(
        "ALTER TABLE traffic_events ADD CONSTRAINT fk_traffic_events_segment_id_segments "
        "FOREIGN KEY (segment_id) REFERENCES segments (id)"
    )
    op.execute("CREATE INDEX ix_traffic_events_occurred_at ON traffic_events (occurred_at)")
    op.execute("CREATE INDEX ix_traffic_events_segment_id_id ON traffic_events (segment_id, id)")
    op.execute("ALTER SEQUENCE traffic_events_id_seq OWNED BY traffic_events.id")
    op.execute("INSERT INTO traffic_events SELECT * FROM traffic_events_partitioned")
    op.execute("DROP TABLE traffic_events_partitioned")
