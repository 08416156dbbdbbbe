"""sessions: dashboard sessions that can be ended, and the sign-in / API key throttle

Revision ID: 0013
Revises: 0015
Create Date: 2026-12-07 20:30:00

Sessions were signed cookies only, so sign-out could not end one. A cookie now names a row
of ``dashboard_sessions`` (by the SHA-256 of its id) and is valid only while the row exists.
Cookies issued before this revision name no row: everyone signs in again once.
``auth_failure_windows`` counts failed sign-ins and wrong keys per bucket and time window.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import shadowgap.db.models

revision = "0013"
down_revision = "0015"
branch_labels = None
depends_on = None

UTC_DATETIME = shadowgap.db.models.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "dashboard_sessions",
        sa.Column("id_digest", sa.String(length=64), nullable=False),
        sa.Column("user_name", sa.String(length=256), nullable=False),
        sa.Column("key_fingerprint", sa.String(length=16), nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("expires_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("id_digest", name=op.f("pk_dashboard_sessions")),
    )
    op.create_index(
        op.f("ix_dashboard_sessions_key_fingerprint"), "dashboard_sessions", ["key_fingerprint"]
    )
    op.create_index(op.f("ix_dashboard_sessions_expires_at"), "dashboard_sessions", ["expires_at"])
    op.create_table(
        "auth_failure_windows",
        sa.Column("bucket", sa.String(length=64), nullable=False),
        sa.Column("window_start", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("bucket", "window_start", name=op.f("pk_auth_failure_windows")),
    )
    op.create_index(
        op.f("ix_auth_failure_windows_window_start"), "auth_failure_windows", ["window_start"]
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_auth_failure_windows_window_start"), table_name="auth_failure_windows")
    op.drop_table("auth_failure_windows")
    op.drop_index(op.f("ix_dashboard_sessions_expires_at"), table_name="dashboard_sessions")
    op.drop_index(op.f("ix_dashboard_sessions_key_fingerprint"), table_name="dashboard_sessions")
    op.drop_table("dashboard_sessions")
