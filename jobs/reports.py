"""reports.weekly: build last week's drift report and post its Slack summary."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from service.config import get_settings
from service.db import session_scope
from service.reporting.weekly import build_weekly_report

from jobs.celery_app import app


@app.task(name="reports.weekly", acks_late=True, soft_time_limit=1800, time_limit=1900)
def weekly(until_iso: str | None = None) -> int:
    until = datetime.fromisoformat(until_iso) if until_iso else datetime.now(UTC)
    with session_scope() as session:
        report = build_weekly_report(session, until - timedelta(days=7), until, get_settings())
        session.flush()
        return report.id
