"""detector state as versioned JSON instead of pickle

Revision ID: 0009
Revises: 0001
Create Date: 2026-12-01 08:20:00

Existing pickled states are not converted (unpickling database content is what this removes):
they become an empty document, which the drift store rebuilds from history on first use.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0009"
down_revision = "0001"
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("detector_states") as batch:
        batch.drop_column("state")
        batch.add_column(sa.Column("state", _JSON, nullable=False, server_default="{}"))


def downgrade() -> None:
    with op.batch_alter_table("detector_states") as batch:
        batch.drop_column("state")
        batch.add_column(sa.Column("state", sa.LargeBinary(), nullable=False, server_default=""))
