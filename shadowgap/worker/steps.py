"""Worker-process hooks: no shadow queue without a flagship, and the consumer's heartbeat."""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime
from typing import Any

from celery import bootsteps

from shadowgap.config import get_settings
from shadowgap.db.engine import session_scope
from shadowgap.llm.factory import flagship_problem
from shadowgap.worker.heartbeats import record_heartbeat

log = logging.getLogger(__name__)
SHADOW_QUEUE = "shadow"
HEARTBEAT_SECONDS = 15.0


def leave_shadow_queue_without_flagship(sender: str, instance: Any, **_: Any) -> None:
    """``celeryd_after_setup`` handler: a worker without a usable flagship does not consume
    the shadow queue, so sampled events wait there (nothing lost, nothing guessed) until a
    worker with a flagship starts. A worker asked to consume only that queue refuses to start.
    """
    problem = flagship_problem(get_settings())
    queues = instance.app.amqp.queues
    if problem is None or SHADOW_QUEUE not in queues.consume_from:
        return
    if set(queues.consume_from) == {SHADOW_QUEUE}:
        raise SystemExit(f"shadowgap worker: {problem}; refusing to consume the shadow queue")
    queues.deselect([SHADOW_QUEUE])
    log.error(
        "not consuming the shadow queue: %s. Sampled events wait there until a worker with a "
        "flagship starts.",
        problem,
    )


class Heartbeat(bootsteps.StartStopStep):
    """Writes this worker's heartbeat row every few seconds from the consumer's own timer.

    The consumer runs the timer, so the beats stop when consuming stops (broker gone, event
    loop stuck, process dead), which is what ``/readyz/workers`` needs to see.
    """

    requires = {"celery.worker.consumer.tasks:Tasks"}

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        self._entry: Any = None

    def start(self, parent: Any) -> None:
        queues = sorted(parent.app.amqp.queues.consume_from)
        self._beat(parent.hostname, queues)
        self._entry = parent.timer.call_repeatedly(
            HEARTBEAT_SECONDS, self._beat, (parent.hostname, queues), priority=10
        )

    def stop(self, parent: Any) -> None:
        if self._entry is not None:
            self._entry.cancel()
            self._entry = None

    shutdown = stop

    @staticmethod
    def _beat(hostname: str, queues: list[str]) -> None:
        try:
            with session_scope() as session:
                record_heartbeat(session, hostname, os.getpid(), queues, datetime.now(UTC))
        except Exception as exc:  # noqa: BLE001 - a missed beat must not stop the consumer
            log.warning("worker heartbeat not written", extra={"error": type(exc).__name__})
