"""Worker-process hooks: no shadow queue without a flagship, the embedded model's self-check,
and the consumer's heartbeat."""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime
from typing import Any

from celery import bootsteps

from shadowgap.config import get_settings
from shadowgap.db.engine import session_scope
from shadowgap.judging.factory import uses_embedded_model
from shadowgap.llm import selfcheck
from shadowgap.llm.factory import flagship_problem
from shadowgap.llm.llama_cpp_client import N_CTX, resolve_model_path
from shadowgap.worker.heartbeats import EMBEDDED_MODEL_OK, record_heartbeat

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


def check_embedded_model(sender: str, instance: Any, **_: Any) -> None:
    """``celeryd_after_setup`` handler: a worker that will load the embedded model checks it
    in a child process first (see shadowgap.llm.selfcheck), before its pool processes fork, so
    they inherit the answer. A failed check is logged once and reported in the heartbeat;
    the worker keeps running the jobs that do not need the model."""
    settings = get_settings()
    if not uses_embedded_model(settings):
        return
    try:
        path = resolve_model_path(settings.llama_model_path)
    except FileNotFoundError:
        return  # the client raises the same error, with the path, when a job needs it
    selfcheck.check_model(path, N_CTX)


def embedded_model_status() -> str | None:
    """What the heartbeat reports: None (not needed), "ok" or the self-check's problem."""
    if not selfcheck.checked():
        return None
    return selfcheck.last_problem() or EMBEDDED_MODEL_OK


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
                record_heartbeat(
                    session,
                    hostname,
                    os.getpid(),
                    queues,
                    datetime.now(UTC),
                    embedded_model_status(),
                )
        except Exception as exc:  # noqa: BLE001 - a missed beat must not stop the consumer
            log.warning("worker heartbeat not written", extra={"error": type(exc).__name__})
