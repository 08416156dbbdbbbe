"""security: audit log, pending originals of sampled events, purge tombstones

Revision ID: 0005
Revises: 0008
Create Date: 2026-12-01 07:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import shadowgap.db.models

revision = "0005"
down_revision = "0008"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("at", shadowgap.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=256), nullable=False),
        sa.Column("via", sa.String(length=16), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("alert_id", sa.Integer(), nullable=True),
        sa.Column("target", sa.String(length=512), nullable=True),
        sa.Column("detail", JSON, nullable=False),
        sa.ForeignKeyConstraint(
            ["alert_id"], ["alerts.id"], name=op.f("fk_audit_log_alert_id_alerts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index(op.f("ix_audit_log_alert_id"), "audit_log", ["alert_id"], unique=False)
    op.create_table(
        "pending_originals",
        sa.Column("event_pk", sa.BigInteger(), nullable=False),
        sa.Column("part", sa.String(length=32), nullable=False),
        sa.Column("content", JSON, nullable=False),
        sa.Column("created_at", shadowgap.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_pk"],
            ["traffic_events.id"],
            name=op.f("fk_pending_originals_event_pk_traffic_events"),
        ),
        sa.PrimaryKeyConstraint("event_pk", "part", name=op.f("pk_pending_originals")),
    )
    op.create_index(
        op.f("ix_pending_originals_created_at"), "pending_originals", ["created_at"], unique=False
    )

    op.create_table(
        "purged_events",
        sa.Column("event_id", sa.String(length=200), nullable=False),
        sa.Column("purged_at", shadowgap.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.String(length=256), nullable=False),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_purged_events")),
    )


def downgrade() -> None:
    op.drop_table("purged_events")
    op.drop_index(op.f("ix_pending_originals_created_at"), table_name="pending_originals")
    op.drop_table("pending_originals")
    op.drop_index(op.f("ix_audit_log_alert_id"), table_name="audit_log")
    op.drop_table("audit_log")
