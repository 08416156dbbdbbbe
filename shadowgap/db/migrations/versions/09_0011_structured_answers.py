"""structured answers: tool calls and finish reason on traffic_events and shadow_runs

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 18:00:00

``answer`` stays the prose ('' for an answer that only calls tools); ``answer_tool_calls``
holds the calls in OpenAI's shape (``[{"id", "type": "function", "function": {"name",
"arguments"}}]``) and ``finish_reason`` why the model stopped. Rows stored before this
revision have both NULL and read as text answers.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_TABLES = ("traffic_events", "shadow_runs")


def upgrade() -> None:
    json_type = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
    for table in _TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("answer_tool_calls", json_type, nullable=True))
            batch.add_column(sa.Column("finish_reason", sa.String(64), nullable=True))


def downgrade() -> None:
    for table in _TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("finish_reason")
            batch.drop_column("answer_tool_calls")
