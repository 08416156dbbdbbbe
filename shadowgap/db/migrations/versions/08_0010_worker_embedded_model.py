"""worker heartbeats report the embedded model's self-check

Revision ID: 0010
Revises: 0006
Create Date: 2026-12-07 17:40:00

NULL: the worker has not needed the embedded model; 'ok'; or the one-line problem its
self-check found (shadowgap.llm.selfcheck), which /readyz and the segment page show.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("worker_heartbeats") as batch:
        batch.add_column(sa.Column("embedded_model", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("worker_heartbeats") as batch:
        batch.drop_column("embedded_model")
