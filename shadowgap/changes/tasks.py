"""changes.verify: bring every open router change's verification up to date (beat)."""

from __future__ import annotations

from datetime import UTC, datetime

from shadowgap.changes.verify import verify_open_changes
from shadowgap.config import get_settings
from shadowgap.db.engine import session_scope
from shadowgap.worker import queue
from shadowgap.worker.app import app


@app.task(name="changes.verify", acks_late=True, soft_time_limit=300, time_limit=330)
def verify() -> int:
    with session_scope() as session:
        delivery_ids = verify_open_changes(session, get_settings(), datetime.now(UTC))
    # After commit: the deliveries exist for the sender to claim.
    for delivery_id in delivery_ids:
        queue.send("alerts.deliver", [delivery_id])
    return len(delivery_ids)
