"""The beat scheduler: Celery's persistent scheduler, able to start in a fresh directory."""

from __future__ import annotations

from pathlib import Path

from celery.beat import PersistentScheduler


class Scheduler(PersistentScheduler):
    """Creates the schedule file's folder before opening it: the production set-up runs beat in
    a fresh working directory, where ``shadowgap-data/`` does not exist yet, and Celery's
    scheduler would fail to open its shelve there and exit."""

    def setup_schedule(self) -> None:
        Path(self.schedule_filename).parent.mkdir(parents=True, exist_ok=True)
        super().setup_schedule()
