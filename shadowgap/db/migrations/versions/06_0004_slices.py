"""slice features and discovered slices

Revision ID: 0004
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import shadowgap.db.models

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
UTC = shadowgap.db.models.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "slice_features",
        sa.Column(
            "event_pk",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=False,
            nullable=False,
        ),
        sa.Column("occurred_at", UTC, nullable=False),
        sa.Column("user_key", sa.String(length=128), nullable=True),
        sa.Column("hour", sa.Integer(), nullable=False),
        sa.Column("features", JSON, nullable=False),
        sa.ForeignKeyConstraint(
            ["event_pk"],
            ["traffic_events.id"],
            name=op.f("fk_slice_features_event_pk_traffic_events"),
        ),
        sa.PrimaryKeyConstraint("event_pk", name=op.f("pk_slice_features")),
    )
    op.create_index(
        op.f("ix_slice_features_occurred_at"), "slice_features", ["occurred_at"], unique=False
    )
    op.create_table(
        "slices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=1024), nullable=False),
        sa.Column("conditions", JSON, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("first_found_at", UTC, nullable=False),
        sa.Column("last_found_at", UTC, nullable=False),
        sa.Column("window_start", UTC, nullable=False),
        sa.Column("window_end", UTC, nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("traffic_share", sa.Float(), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("details", JSON, nullable=False),
        sa.Column("confirmation", JSON, nullable=True),
        sa.Column("confirmed_at", UTC, nullable=True),
        sa.Column("alert_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["alert_id"], ["alerts.id"], name=op.f("fk_slices_alert_id_alerts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_slices")),
        sa.UniqueConstraint("key", name=op.f("uq_slices_key")),
    )


def downgrade() -> None:
    op.drop_table("slices")
    op.drop_index(op.f("ix_slice_features_occurred_at"), table_name="slice_features")
    op.drop_table("slice_features")
