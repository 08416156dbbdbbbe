"""router changes: changes that went live, and their verification

Revision ID: 0021
Revises: 0014
Create Date: 2026-12-07 23:40:00

``router_changes`` records a router change (``POST /v1/changes``): its scope (a segment key or
a router-visible slice), when it went live, what it was, the proposal it implements and that
proposal's predicted effect, and what the verification found (``shadowgap/changes/verify.py``):
``status`` (pending, verified, regressed), the figures in ``verification`` and the
``change_regressed`` alert it opened.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0021"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    json_type = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
    nullable_json = sa.JSON(none_as_null=True).with_variant(
        postgresql.JSONB(none_as_null=True), "postgresql"
    )
    moment = sa.DateTime(timezone=True)
    op.create_table(
        "router_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("scope", sa.String(512), nullable=False),
        sa.Column("at", moment, nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("proposal_id", sa.String(128), nullable=True),
        sa.Column("predicted", nullable_json, nullable=True),
        sa.Column("recorded_at", moment, nullable=False),
        sa.Column("recorded_by", sa.String(256), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("verification", json_type, nullable=False),
        sa.Column("verified_at", moment, nullable=True),
        sa.Column("alert_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["alert_id"], ["alerts.id"], name="fk_router_changes_alert_id_alerts"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_router_changes"),
    )
    op.create_index("ix_router_changes_scope", "router_changes", ["scope"])
    op.create_index("ix_router_changes_at", "router_changes", ["at"])


def downgrade() -> None:
    op.drop_index("ix_router_changes_at", table_name="router_changes")
    op.drop_index("ix_router_changes_scope", table_name="router_changes")
    op.drop_table("router_changes")
