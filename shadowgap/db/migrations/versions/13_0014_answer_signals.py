"""answer checks: per-event flags of the answer-defect signals on traffic_events

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 20:30:00

``answer_checks`` holds what ingest found in a cheap answer without a flagship (invalid tool
arguments, a JSON answer breaking its response schema, truncation, refusal; see
``shadowgap/ingest/answer_checks.py``), NULL where no check applies and on rows stored before
this revision: the four detectors then have no input from them.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    json_type = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
    with op.batch_alter_table("traffic_events") as batch:
        batch.add_column(sa.Column("answer_checks", json_type, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("traffic_events") as batch:
        batch.drop_column("answer_checks")
