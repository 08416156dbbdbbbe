"""user cadence: each user's cadence class over the last discovery window, for ingest

Revision ID: 0022
Revises: 0017
Create Date: 2026-12-08 03:40:00

The hourly discovery run stores every user's cadence class (requests per active hour over
its window, shadowgap/slices/cadence.py); ingest records it with the slice features of the
user's later requests, so exploration and proposals can match cadence slices per request.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import shadowgap.db.models

revision = "0022"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "user_cadence",
        sa.Column("user_key", sa.String(length=128), nullable=False),
        sa.Column("cadence", sa.String(length=16), nullable=False),
        sa.Column("requests", sa.Integer(), nullable=False),
        sa.Column("active_hours", sa.Integer(), nullable=False),
        sa.Column("window_end", shadowgap.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_key", name=op.f("pk_user_cadence")),
    )


def downgrade() -> None:
    op.drop_table("user_cadence")
