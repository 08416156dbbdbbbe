"""slice exploration: slices under watch, and which draw took a sampled event

Revision ID: 0015
Revises: 0012
Create Date: 2026-12-07 20:10:00

``slice_watches`` holds the slices exploration is chasing (``shadowgap/slices/exploration.py``):
conditions, when nominated, the boost the sampler gives matching requests, the looks done and
the decision. ``sampling_decisions.base_draw`` says whether the base design's draw took the
event (false: only the exploration draw did; the segment quality detectors skip those) and
``base_probability`` is the base design's own probability (``inclusion_probability`` is the
combined one, ``1 - (1 - p_base)(1 - p_explore)``). Rows stored before this revision were
taken by the base draw alone.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0015"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    json_type = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
    moment = sa.DateTime(timezone=True)
    op.create_table(
        "slice_watches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(1024), nullable=False),
        sa.Column("conditions", json_type, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("nominated_at", moment, nullable=False),
        sa.Column("decided_at", moment, nullable=True),
        sa.Column("volume_per_day", sa.Float(), nullable=False),
        sa.Column("boost", sa.Float(), nullable=False),
        sa.Column("evidence", json_type, nullable=False),
        sa.Column("looks_done", sa.Integer(), nullable=False),
        sa.Column("pairs", sa.Integer(), nullable=False),
        sa.Column("last_test", json_type, nullable=True),
        sa.Column("slice_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["slice_id"], ["slices.id"], name="fk_slice_watches_slice_id_slices"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_slice_watches"),
        sa.UniqueConstraint("key", name="uq_slice_watches_key"),
    )
    op.create_index("ix_slice_watches_status", "slice_watches", ["status"])
    with op.batch_alter_table("sampling_decisions") as batch:
        batch.add_column(
            sa.Column("base_draw", sa.Boolean(), nullable=False, server_default=sa.true())
        )
        batch.add_column(sa.Column("base_probability", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sampling_decisions") as batch:
        batch.drop_column("base_probability")
        batch.drop_column("base_draw")
    op.drop_index("ix_slice_watches_status", table_name="slice_watches")
    op.drop_table("slice_watches")
