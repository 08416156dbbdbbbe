"""text copies: the registry of request-text copies (alert evidence, delivery payloads, outbox
files), filled from the rows already stored; purge tombstones without the purged values

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 20:30:00

The backfill registers each alert with the examples of its evidence that still hold text, each
delivery whose payload was not already blanked with those same events plus the examples its
payload carries itself (the webhook and outbox bodies hold the evidence), and each outbox
delivery's file by its name (resolved against the outbox directory when purge or retention
runs). A Slack or PagerDuty payload rendered from examples its alert has since replaced names
no event_pk and cannot be traced: retention still blanks it once it is older than the period.

``purged_events.reason`` held the purge's filter values (``segment=tenant=acme user=u-17``):
the user id a deletion request asked to forget. Old rows keep only which filter was used.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import shadowgap.db.models

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
# Example fields that are not request text (shadowgap.privacy.copies.EXAMPLE_KEPT at 0012).
_KEPT = {
    "event_pk",
    "event_id",
    "occurred_at",
    "route_tier",
    "route_model",
    "flagship_model",
    "winner",
    "gap_score",
    "judge",
}


def _quoted(evidence: Any) -> set[int]:
    examples = evidence.get("examples") if isinstance(evidence, dict) else None
    found: set[int] = set()
    for example in examples if isinstance(examples, list) else []:
        if not isinstance(example, dict) or not isinstance(example.get("event_pk"), int):
            continue
        if any(v not in (None, "") for k, v in example.items() if k not in _KEPT):
            found.add(example["event_pk"])
    return found


def _outbox_name(payload: dict[str, Any]) -> str:
    # The outbox channel's file name at 0012 (shadowgap.alerts.channels.outbox.file_name).
    alert_id = (payload.get("alert") or {}).get("id", "x")
    raw = f"alert-{alert_id}-{payload.get('action', 'event')}-{payload.get('id', 'noid')}"
    return re.sub(r"[^A-Za-z0-9._-]", "_", raw) + ".json"


def _reason(old: str) -> str:
    used = [name for name in ("segment", "user") if f"{name}=" in old]
    return "purge by " + " and ".join(used) if used else "purge"


def upgrade() -> None:
    copies = op.create_table(
        "text_copies",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("copy_id", sa.BigInteger(), nullable=False),
        sa.Column("path", sa.String(length=1024), nullable=True),
        sa.Column("event_pk", sa.BigInteger(), nullable=False),
        sa.Column("created_at", shadowgap.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_text_copies")),
    )
    op.create_index(op.f("ix_text_copies_event_pk"), "text_copies", ["event_pk"], unique=False)
    op.create_index("ix_text_copies_kind_copy_id", "text_copies", ["kind", "copy_id"])

    bind = op.get_bind()
    alerts = sa.table("alerts", sa.column("id"), sa.column("evidence", JSON))
    deliveries = sa.table(
        "deliveries",
        sa.column("id"),
        sa.column("alert_id"),
        sa.column("channel"),
        sa.column("payload", JSON),
    )
    rows: list[dict[str, Any]] = []
    quoted_by_alert: dict[int, set[int]] = {}
    for alert_id, evidence in bind.execute(sa.select(alerts.c.id, alerts.c.evidence)):
        quoted_by_alert[alert_id] = _quoted(evidence)
        rows += [
            {"kind": "alert", "copy_id": alert_id, "path": None, "event_pk": pk}
            for pk in sorted(quoted_by_alert[alert_id])
        ]
    for delivery_id, alert_id, channel, payload in bind.execute(
        sa.select(
            deliveries.c.id, deliveries.c.alert_id, deliveries.c.channel, deliveries.c.payload
        )
    ):
        if not isinstance(payload, dict) or "expired" in payload:
            continue
        quoted = quoted_by_alert.get(alert_id, set()) | _quoted(payload.get("evidence"))
        rows += [
            {"kind": "delivery", "copy_id": delivery_id, "path": None, "event_pk": pk}
            for pk in sorted(quoted)
        ]
        if channel == "outbox":
            rows += [
                {
                    "kind": "outbox_file",
                    "copy_id": delivery_id,
                    "path": _outbox_name(payload),
                    "event_pk": pk,
                }
                for pk in sorted(quoted)
            ]
    if rows:
        created = datetime.now(UTC)
        op.bulk_insert(copies, [row | {"created_at": created} for row in rows])

    purged = sa.table("purged_events", sa.column("event_id"), sa.column("reason"))
    for old in list(bind.execute(sa.select(purged.c.reason).distinct()).scalars()):
        new = _reason(old or "")
        if new != old:
            bind.execute(purged.update().where(purged.c.reason == old).values(reason=new))


def downgrade() -> None:
    # The purge reasons' values are gone for good; the registry simply goes.
    op.drop_index("ix_text_copies_kind_copy_id", table_name="text_copies")
    op.drop_index(op.f("ix_text_copies_event_pk"), table_name="text_copies")
    op.drop_table("text_copies")
