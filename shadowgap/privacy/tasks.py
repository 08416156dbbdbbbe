"""privacy.retention: drop prompt/answer text past the retention period, then the rows of
events past SHADOWGAP_EVENT_ROW_DAYS and the event-id holes no reader needs (daily, on beat);
privacy.text_window: partitions ahead, and the text of unsampled events past the text window
cleared (every 10 minutes, on beat)."""

from __future__ import annotations

import logging
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from shadowgap.config import get_settings
from shadowgap.db.engine import session_scope
from shadowgap.privacy import row_retention, text_window
from shadowgap.privacy.retention import run_daily
from shadowgap.worker.app import app

log = logging.getLogger(__name__)


@app.task(name="privacy.retention", acks_late=True, soft_time_limit=3000, time_limit=3300)
def retention() -> dict[str, Any]:
    now, settings = datetime.now(UTC), get_settings()
    with session_scope() as session:
        result = run_daily(session, now, settings)
    log.info("retention applied", extra=asdict(result))
    # After the text: copies of the events about to go have lost their text already.
    rows = row_retention.run(session_scope, now, settings)
    log.info("row retention applied", extra=rows.log_fields())
    return {**asdict(result), "rows": rows.log_fields()}


@app.task(name="privacy.text_window", acks_late=True, soft_time_limit=3000, time_limit=3300)
def clear_text_window() -> dict[str, int]:
    result = text_window.run(session_scope, datetime.now(UTC), get_settings())
    log.info("text window applied", extra=asdict(result))
    return asdict(result)
