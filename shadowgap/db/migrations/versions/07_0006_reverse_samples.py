"""reverse shadow samples: flagship-routed events re-run on the cheap model

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 08:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import shadowgap.db.models

revision = "0006"
down_revision = "0004"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "reverse_samples",
        sa.Column("id", BigId, nullable=False),
        sa.Column("event_pk", BigId, nullable=False),
        sa.Column("segment_id", sa.Integer(), nullable=False),
        sa.Column("inclusion_probability", sa.Float(), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("decided_at", shadowgap.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("enqueued_at", shadowgap.db.models.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["event_pk"],
            ["traffic_events.id"],
            name=op.f("fk_reverse_samples_event_pk_traffic_events"),
        ),
        sa.ForeignKeyConstraint(
            ["segment_id"], ["segments.id"], name=op.f("fk_reverse_samples_segment_id_segments")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reverse_samples")),
        sa.UniqueConstraint("event_pk", name=op.f("uq_reverse_samples_event_pk")),
    )
    with op.batch_alter_table("reverse_samples", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_reverse_samples_segment_id"), ["segment_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("reverse_samples", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reverse_samples_segment_id"))
    op.drop_table("reverse_samples")
