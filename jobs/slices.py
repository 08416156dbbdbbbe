"""slices.discover: one slice discovery run (hourly on beat), then its alerts' deliveries."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from jobs.celery_app import app
from service import queue
from service.config import get_settings
from service.db import session_scope
from service.slices.discovery import discover


@app.task(name="slices.discover", acks_late=True, soft_time_limit=900, time_limit=960)
def discover_task(now_iso: str | None = None) -> dict[str, Any]:
    now = datetime.fromisoformat(now_iso) if now_iso else datetime.now(UTC)
    with session_scope() as session:
        summary = discover(session, get_settings(), now)
    for delivery_id in summary.delivery_ids:
        queue.send("alerts.deliver", [delivery_id])
    return {
        "pairs": summary.pairs,
        "tested": summary.tested,
        "found": summary.found,
        "confirmed": summary.confirmed,
        "unconfirmed": summary.unconfirmed,
    }
