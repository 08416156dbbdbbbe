"""segments: event-time range (first/last occurred_at) beside the arrival times

The arrival time of a segment's latest event, ``last_event_at``, becomes ``last_seen_at``
(beside ``first_seen_at``); ``first_occurred_at`` and ``last_occurred_at`` hold the earliest and
latest event time (the sender's ``timestamp``) of its events, filled from the stored events.

Revision ID: 0008
Revises: 0009
Create Date: 2026-12-01 07:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import shadowgap.db.models

revision = "0008"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ALTER TABLE statements: SQLite (>= 3.25) renames and adds columns in place, and a
    # batch-mode table rebuild would trip over the foreign keys that point at segments.
    op.alter_column("segments", "last_event_at", new_column_name="last_seen_at")
    for name in ("first_occurred_at", "last_occurred_at"):
        op.add_column(
            "segments",
            sa.Column(name, shadowgap.db.models.UTCDateTime(timezone=True), nullable=True),
        )
    op.execute(
        "UPDATE segments SET "
        "first_occurred_at = (SELECT min(e.occurred_at) FROM traffic_events e "
        "WHERE e.segment_id = segments.id), "
        "last_occurred_at = (SELECT max(e.occurred_at) FROM traffic_events e "
        "WHERE e.segment_id = segments.id)"
    )


def downgrade() -> None:
    op.drop_column("segments", "last_occurred_at")
    op.drop_column("segments", "first_occurred_at")
    op.alter_column("segments", "last_seen_at", new_column_name="last_event_at")
