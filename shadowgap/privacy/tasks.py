"""privacy.retention: drop prompt/answer text past the retention period (daily, on beat)."""

from __future__ import annotations

import logging
from dataclasses import asdict
from datetime import UTC, datetime

from shadowgap.config import get_settings
from shadowgap.db.engine import session_scope
from shadowgap.privacy.retention import run_daily
from shadowgap.worker.app import app

log = logging.getLogger(__name__)


@app.task(name="privacy.retention", acks_late=True, soft_time_limit=3000, time_limit=3300)
def retention() -> dict[str, int]:
    with session_scope() as session:
        result = run_daily(session, datetime.now(UTC), get_settings())
    log.info("retention applied", extra=asdict(result))
    return asdict(result)
