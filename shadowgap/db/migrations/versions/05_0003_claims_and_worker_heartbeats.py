"""claims (shadow jobs, alert deliveries) and worker heartbeats

Revision ID: 0003
Revises: 0005
Create Date: 2026-12-01 07:39:06.399061
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import shadowgap.db.models

revision = "0003"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "worker_heartbeats",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("hostname", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("queues", sa.Text(), nullable=False),
        sa.Column("started_at", shadowgap.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", shadowgap.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_worker_heartbeats")),
        sa.UniqueConstraint("hostname", name=op.f("uq_worker_heartbeats_hostname")),
    )
    with op.batch_alter_table("worker_heartbeats", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_worker_heartbeats_last_seen_at"), ["last_seen_at"], unique=False
        )

    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "claimed_until", shadowgap.db.models.UTCDateTime(timezone=True), nullable=True
            )
        )

    with op.batch_alter_table("sampling_decisions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "claimed_until", shadowgap.db.models.UTCDateTime(timezone=True), nullable=True
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("sampling_decisions", schema=None) as batch_op:
        batch_op.drop_column("claimed_until")

    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_column("claimed_until")

    with op.batch_alter_table("worker_heartbeats", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_worker_heartbeats_last_seen_at"))

    op.drop_table("worker_heartbeats")
