"""unserialised ingest: segment count deltas, the event horizon, holes in event ids

Revision ID: 0017
Revises: 0018
Create Date: 2026-12-07 23:30:00

Ingest stops numbering events under an advisory lock (shadowgap/ingest/store.py): ids come
from the table's sequence, which this revision moves past the ids ingest numbered itself.
The detectors then read ids up to the horizon (``event_horizon``, shadowgap/db/event_horizon.py),
which starts at the newest stored id (gapless up to there), and ingest appends counter deltas
instead of updating segment rows (``segment_count_deltas``, shadowgap/db/segment_counts.py).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import shadowgap.db.models

revision = "0017"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    when = shadowgap.db.models.UTCDateTime(timezone=True)
    big_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    op.create_table(
        "segment_count_deltas",
        sa.Column("id", big_id, nullable=False),
        sa.Column("segment_id", sa.Integer(), nullable=False),
        sa.Column("events", sa.BigInteger(), nullable=False),
        sa.Column("cheap", sa.BigInteger(), nullable=False),
        sa.Column("sampled", sa.BigInteger(), nullable=False),
        sa.Column("first_occurred_at", when, nullable=True),
        sa.Column("last_occurred_at", when, nullable=True),
        sa.Column("last_seen_at", when, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_segment_count_deltas")),
    )
    op.create_index(
        op.f("ix_segment_count_deltas_segment_id"), "segment_count_deltas", ["segment_id"]
    )
    op.create_table(
        "event_horizon",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("safe_id", sa.BigInteger(), nullable=False),
        sa.Column("candidate_id", sa.BigInteger(), nullable=True),
        sa.Column("candidate_holders", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_horizon")),
    )
    op.create_table(
        "traffic_event_holes",
        sa.Column("first_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("last_id", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("first_id", name=op.f("pk_traffic_event_holes")),
    )
    op.execute(
        "INSERT INTO event_horizon (id, safe_id) SELECT 1, coalesce(max(id), 0) FROM traffic_events"
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "SELECT setval(pg_get_serial_sequence('traffic_events', 'id'), "
            "coalesce(max(id), 0) + 1, false) FROM traffic_events"
        )


def downgrade() -> None:
    op.drop_table("traffic_event_holes")
    op.drop_table("event_horizon")
    op.drop_index(op.f("ix_segment_count_deltas_segment_id"), table_name="segment_count_deltas")
    op.drop_table("segment_count_deltas")
