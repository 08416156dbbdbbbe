"""The worker-side Celery app: configuration from shadowgap.worker.queue, beat schedule, tasks."""

from __future__ import annotations

from typing import Any

from celery import Celery
from celery.schedules import crontab, schedule
from celery.signals import celeryd_after_setup, setup_logging

from shadowgap.config import DATA_DIR, get_settings
from shadowgap.logging_setup import configure_logging
from shadowgap.privacy.redaction import for_settings
from shadowgap.worker.queue import celery_config
from shadowgap.worker.steps import (
    Heartbeat,
    check_embedded_model,
    leave_shadow_queue_without_flagship,
)

settings = get_settings()
configure_logging(settings.log_level, settings.log_json, for_settings(settings).text)


@setup_logging.connect
def _keep_json_logging(**_: Any) -> None:
    # Answering this signal stops Celery's own logging set-up (worker and beat), including
    # its redirect of stdout/stderr to a logger, which logged every line a traceback wrote
    # to stderr as a log record of its own. Logs stay one JSON object per line.
    configure_logging(settings.log_level, settings.log_json, for_settings(settings).text)


celeryd_after_setup.connect(leave_shadow_queue_without_flagship)
celeryd_after_setup.connect(check_embedded_model)

app = Celery("shadowgap")
app.conf.update(celery_config(settings))
app.steps["consumer"].add(Heartbeat)
app.conf.update(
    include=[
        "shadowgap.shadow.tasks",
        "shadowgap.attribution.tasks",
        "shadowgap.judging.tasks",
        "shadowgap.drift.tasks",
        "shadowgap.alerts.tasks",
        "shadowgap.reporting.tasks",
        "shadowgap.privacy.tasks",
        "shadowgap.slices.tasks",
        "shadowgap.changes.tasks",
        "shadowgap.slo.tasks",
    ],
    beat_scheduler="shadowgap.worker.beat:Scheduler",
    beat_schedule_filename=str(DATA_DIR / "celerybeat-schedule"),
    beat_schedule={
        # Sweeps are the safety net of the after-commit sends: nothing accepted is lost when
        # the broker was down or dropped messages. Each expires before the next one is due.
        # The shadow sweep runs often so that jobs lost with the broker go out again within a
        # couple of minutes (SHADOWGAP_JOB_LOST_AFTER_SECONDS); claims make that safe.
        "shadow-sweep": {
            "task": "shadow.sweep",
            "schedule": schedule(30.0),
            "options": {"expires": 25},
        },
        "reverse-shadow-sample": {
            "task": "shadow.reverse_sample",
            "schedule": schedule(60.0),
            "options": {"expires": 55},
        },
        "drift-sweep": {
            "task": "drift.sweep",
            "schedule": schedule(30.0),
            "options": {"expires": 25},
        },
        "alerts-sweep": {
            "task": "alerts.sweep",
            "schedule": schedule(60.0),
            "options": {"expires": 55},
        },
        # Hourly: the window moves an hour, and a found slice is confirmed on the data after it.
        "slice-discovery": {
            "task": "slices.discover",
            "schedule": crontab(minute="17"),
            "options": {"expires": 3000},
        },
        # Router changes: a look at each open change's before/after (docs/changes.md).
        "changes-verify": {
            "task": "changes.verify",
            "schedule": schedule(300.0),
            "options": {"expires": 290},
        },
        # Quality SLO burn-rate looks: each look takes its part of the SLO's false-alarm
        # share, so the cadence is a setting the rules read too.
        "slo-evaluate": {
            "task": "slo.evaluate",
            "schedule": schedule(settings.slo_look_hours * 3600.0),
            "options": {"expires": settings.slo_look_hours * 3600.0 * 0.9},
        },
        # Latency and error-rate SLO looks: their shortest window is 5 minutes.
        "slo-evaluate-requests": {
            "task": "slo.evaluate_requests",
            "schedule": schedule(settings.slo_request_look_minutes * 60.0),
            "options": {"expires": settings.slo_request_look_minutes * 60.0 * 0.9},
        },
        "weekly-report": {
            "task": "reports.weekly",
            "schedule": crontab(
                minute="0", hour=str(settings.report_hour), day_of_week=settings.report_day_of_week
            ),
            "options": {"expires": 3600},
        },
        # Daily, at a quiet hour: prompt/answer text past SHADOWGAP_RETENTION_DAYS goes, then
        # the rows of events past SHADOWGAP_EVENT_ROW_DAYS (whole day partitions).
        "privacy-retention": {
            "task": "privacy.retention",
            "schedule": crontab(minute="17", hour="3"),
            "options": {"expires": 3600},
        },
        # Partitions ahead, and the text of unsampled events past SHADOWGAP_TEXT_WINDOW_MINUTES.
        "privacy-text-window": {
            "task": "privacy.text_window",
            "schedule": crontab(minute="*/10"),
            "options": {"expires": 540},
        },
    },
)
