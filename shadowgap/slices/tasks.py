"""slices.discover: one slice discovery run (hourly on beat), then its alerts' deliveries.

The window ends at the event-time watermark unless ``until_iso`` is given."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shadowgap.config import get_settings
from shadowgap.db.engine import session_scope
from shadowgap.slices.discovery import discover
from shadowgap.worker import queue
from shadowgap.worker.app import app


@app.task(name="slices.discover", acks_late=True, soft_time_limit=900, time_limit=960)
def discover_task(until_iso: str | None = None) -> dict[str, Any]:
    end = datetime.fromisoformat(until_iso) if until_iso else None
    with session_scope() as session:
        summary = discover(session, get_settings(), end)
    for delivery_id in summary.delivery_ids:
        queue.send("alerts.deliver", [delivery_id])
    return {
        "pairs": summary.pairs,
        "tested": summary.tested,
        "found": summary.found,
        "confirmed": summary.confirmed,
        "unconfirmed": summary.unconfirmed,
    }
