"""The worker-side Celery app: configuration from service.queue, beat schedule, task modules."""

from __future__ import annotations

from celery import Celery
from celery.schedules import crontab, schedule

from service.config import DATA_DIR, get_settings
from service.logging_setup import configure_logging
from service.privacy.redaction import for_settings
from service.queue import celery_config

settings = get_settings()
configure_logging(settings.log_level, settings.log_json, for_settings(settings).text)

app = Celery("shadowgap")
app.conf.update(celery_config(settings))
app.conf.update(
    include=[
        "jobs.shadow",
        "jobs.reverse_shadow",
        "jobs.judge",
        "jobs.drift",
        "jobs.alerting",
        "jobs.reports",
        "jobs.privacy",
    ],
    beat_schedule_filename=str(DATA_DIR / "celerybeat-schedule"),
    beat_schedule={
        # Sweeps are the safety net of the after-commit sends: nothing accepted is lost when
        # the broker was down or dropped messages. Each expires before the next one is due.
        "shadow-sweep": {
            "task": "shadow.sweep",
            "schedule": schedule(60.0),
            "options": {"expires": 55},
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
        "weekly-report": {
            "task": "reports.weekly",
            "schedule": crontab(
                minute="0", hour=str(settings.report_hour), day_of_week=settings.report_day_of_week
            ),
            "options": {"expires": 3600},
        },
        # Daily, at a quiet hour: prompt/answer text past SHADOWGAP_RETENTION_DAYS goes.
        "privacy-retention": {
            "task": "privacy.retention",
            "schedule": crontab(minute="17", hour="3"),
            "options": {"expires": 3600},
        },
    },
)
