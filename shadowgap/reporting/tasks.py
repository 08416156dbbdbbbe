"""reports.weekly: build last week's drift report, then post its Slack summary."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from shadowgap.alerts.channels import slack
from shadowgap.config import get_settings
from shadowgap.db import models
from shadowgap.db.engine import session_scope
from shadowgap.db.watermark import window_end
from shadowgap.errors import DeliveryError
from shadowgap.reporting.slack import slack_summary
from shadowgap.reporting.weekly import build_weekly_report
from shadowgap.worker.app import app
from shadowgap.worker.retries import REPORT_SUMMARY

log = logging.getLogger(__name__)


@app.task(
    name="reports.weekly", **REPORT_SUMMARY.task_options(soft_time_limit=1800, time_limit=1900)
)
def weekly(self, until_iso: str | None = None, report_id: int | None = None) -> int:  # type: ignore[no-untyped-def]
    settings = get_settings()
    if report_id is None:
        with session_scope() as session:
            until = datetime.fromisoformat(until_iso) if until_iso else window_end(session)
            report_id = build_weekly_report(session, until - timedelta(days=7), until, settings).id
    if settings.slack_webhook_url is None:
        return report_id
    with session_scope() as session:
        report = session.get(models.Report, report_id)
        assert report is not None
        payload = slack_summary(report, settings)
    try:
        slack.send(payload, settings)
    except DeliveryError as exc:
        # Retry only the summary: the stored report is not rebuilt.
        if exc.transient:
            REPORT_SUMMARY.retry(self, exc, kwargs={"report_id": report_id})
        log.warning("weekly report summary refused by Slack", extra={"report_id": report_id})
    return report_id
