"""slices.discover: one slice discovery run (hourly on beat), then its alerts' deliveries.

The window ends at the event-time watermark unless ``until_iso`` is given. The users' cadence
classes ingest records (``shadowgap.slices.cadence``) are refreshed over the same window, and
the exploration cycle (``shadowgap.slices.watches``) runs after it on that window too."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from shadowgap.config import get_settings
from shadowgap.db.engine import session_scope
from shadowgap.slices import cadence
from shadowgap.slices.discovery import discover
from shadowgap.slices.watches import explore
from shadowgap.worker import queue
from shadowgap.worker.app import app


@app.task(name="slices.discover", acks_late=True, soft_time_limit=900, time_limit=960)
def discover_task(until_iso: str | None = None) -> dict[str, Any]:
    end = datetime.fromisoformat(until_iso) if until_iso else None
    settings = get_settings()
    with session_scope() as session:
        summary = discover(session, settings, end)
        users = cadence.refresh(session, summary.window_start, summary.window_end)
        watch = explore(session, settings, summary.window_end, datetime.now(UTC))
    for delivery_id in summary.delivery_ids + watch.delivery_ids:
        queue.send("alerts.deliver", [delivery_id])
    return {
        "pairs": summary.pairs,
        "tested": summary.tested,
        "found": summary.found,
        "confirmed": summary.confirmed + watch.confirmed,
        "unconfirmed": summary.unconfirmed,
        "watching": watch.watching,
        "nominated": watch.nominated,
        "cadence_users": users,
    }
