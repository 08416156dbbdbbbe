"""The retry policy of the task modules: exponential backoff with jitter, honouring a
server's ``Retry-After``, one :class:`RetryPolicy` per kind of failure.

Which behaviour each task keeps (unchanged by bringing them here):

- ``MODEL_CALLS`` (``shadow.run``, ``judge.score``, ``shadow.reverse``): a model endpoint's
  429/5xx/timeouts after the client's own retries: ``30 s * 2^n``, uncapped, at most 5 task
  retries (30 s .. 8 min), so a provider outage of a quarter of an hour is ridden out.
- ``DELIVERIES`` (``alerts.deliver``): a channel that refused or could not be reached:
  ``1 s * 2^n`` capped at 10 minutes, 12 retries; a delivery still pending after them is sent
  again by ``alerts.sweep``, so an alert is late, never lost.
- ``REPORT_SUMMARY`` (``reports.weekly``'s Slack summary): a fixed 60 s, 6 retries, no jitter
  (one message a week).

Each countdown is at least the server's ``Retry-After`` and is spread by +-20% (all but the
report) so that jobs failed together do not come back together.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, NoReturn

from shadowgap.errors import FlagshipError


@dataclass(frozen=True)
class RetryPolicy:
    base_seconds: float
    max_retries: int
    cap_seconds: float | None = None
    jitter: float = 0.2

    def countdown(self, retries: int, retry_after: float | None = None) -> float:
        """Seconds before retry number ``retries + 1``."""
        backoff = self.base_seconds * 2.0**retries
        if self.cap_seconds is not None:
            backoff = min(backoff, self.cap_seconds)
        wait = max(retry_after or 0.0, backoff)
        if self.jitter:
            wait *= random.uniform(1.0 - self.jitter, 1.0 + self.jitter)
        return wait

    def may_retry(self, task: Any) -> bool:
        return int(task.request.retries) < self.max_retries

    def retry(
        self, task: Any, exc: BaseException, retry_after: float | None = None, **options: Any
    ) -> NoReturn:
        """Raise the task's retry with this policy's countdown (Celery's ``Retry``)."""
        countdown = self.countdown(int(task.request.retries), retry_after)
        raise task.retry(exc=exc, countdown=countdown, **options)

    def retry_transient(self, task: Any, exc: FlagshipError) -> None:
        """Retry a model call that failed for now (429, 5xx, a timeout) while retries are
        left; otherwise return, and the caller records or raises the failure."""
        if exc.transient and self.may_retry(task):
            self.retry(task, exc, exc.retry_after)

    def task_options(self, soft_time_limit: float, time_limit: float) -> dict[str, Any]:
        """``app.task`` options of a task that retries under this policy: bound (it passes
        itself to :meth:`retry`), acknowledged late (a worker that dies mid-task leaves the
        message to another), at most :attr:`max_retries` retries, and its time limits."""
        return {
            "bind": True,
            "acks_late": True,
            "max_retries": self.max_retries,
            "soft_time_limit": soft_time_limit,
            "time_limit": time_limit,
        }


MODEL_CALLS = RetryPolicy(base_seconds=30.0, max_retries=5)
DELIVERIES = RetryPolicy(base_seconds=1.0, max_retries=12, cap_seconds=600.0)
REPORT_SUMMARY = RetryPolicy(base_seconds=60.0, max_retries=6, cap_seconds=60.0, jitter=0.0)
