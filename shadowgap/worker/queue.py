"""The Celery configuration and the producer side of the job queue.

The API sends tasks by name through :func:`send`; it never imports task modules. The worker
app in ``jobs/`` is built from the same :func:`celery_config`.
"""

from __future__ import annotations

import logging
import threading
import time
from functools import lru_cache
from pathlib import Path
from typing import Any

from celery import Celery
from kombu import Exchange, Queue
from sqlalchemy.engine import make_url

from shadowgap.config import Settings, get_settings
from shadowgap.worker import redis_broker, sqlite_broker

log = logging.getLogger(__name__)

QUEUES = ("shadow", "judge", "drift", "alerts", "reports", "maintenance")
TASK_QUEUES = {
    "shadow.run": "shadow",
    "shadow.sweep": "maintenance",
    "shadow.reverse": "shadow",
    "shadow.reverse_sample": "maintenance",
    "judge.score": "judge",
    "drift.update": "drift",
    "drift.sweep": "maintenance",
    "alerts.evaluate": "alerts",
    "alerts.observe": "alerts",
    "alerts.deliver": "alerts",
    "alerts.sweep": "maintenance",
    "reports.weekly": "reports",
    "privacy.retention": "maintenance",
    "privacy.text_window": "maintenance",
    "slices.discover": "reports",
    "changes.verify": "reports",
}
DRIFT_DEBOUNCE_SECONDS = 5.0


def _transport_options(broker: str) -> dict[str, Any]:
    if broker.startswith("sqla+"):
        # kombu hands these to create_engine: wait on SQLite's lock instead of failing, as
        # the API and the worker processes share the broker file.
        return {"connect_args": {"timeout": 30}}
    # Redis: a message not acked within this window is redelivered (a killed worker's job).
    return {"visibility_timeout": 3600}


def celery_config(settings: Settings) -> dict[str, Any]:
    broker = settings.broker_url
    sqlite_broker.install()
    redis_broker.install()
    if broker.startswith("sqla+sqlite"):
        db_path = make_url(broker.removeprefix("sqla+")).database
        if db_path:
            Path(db_path).parent.mkdir(parents=True, exist_ok=True)
    return {
        "broker_url": broker,
        "result_backend": None,
        "task_ignore_result": True,
        "task_serializer": "json",
        "accept_content": ["json"],
        "result_serializer": "json",
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        # Redis: one message at a time per process (fair dispatch to slow flagship calls).
        # The SQLite broker is polled: fetching a few ahead hides the polling gap; acks_late
        # still means a killed worker's messages are redelivered.
        "worker_prefetch_multiplier": 4 if broker.startswith("sqla+") else 1,
        # Declared so that a worker started without --queues consumes all of them.
        "task_queues": [Queue(name, Exchange(name), routing_key=name) for name in QUEUES],
        "task_routes": {name: {"queue": queue} for name, queue in TASK_QUEUES.items()},
        "task_default_queue": "maintenance",
        "broker_connection_retry_on_startup": True,
        "broker_transport_options": _transport_options(broker),
        "worker_hijack_root_logger": False,
        "enable_utc": True,
        "timezone": "UTC",
    }


@lru_cache
def producer() -> Celery:
    app = Celery("shadowgap-producer")
    app.conf.update(celery_config(get_settings()))
    return app


def send(name: str, args: list[Any], countdown: float | None = None) -> None:
    """Send a task by name. Raises when the broker cannot be reached: callers that can
    recover (the outbox sweep) catch it at their boundary."""
    producer().send_task(name, args=args, queue=TASK_QUEUES[name], countdown=countdown)


_drift_sent: dict[int, float] = {}
_drift_lock = threading.Lock()


def request_drift_update(segment_ids: set[int]) -> None:
    """Ask for a micro-batched detector update of these segments, at most one per segment
    every few seconds per process. The countdown lets a burst of events land first; the
    watermark makes a duplicate request a no-op, and drift.sweep catches stragglers."""
    now = time.monotonic()
    due = []
    with _drift_lock:
        for segment_id in segment_ids:
            if now - _drift_sent.get(segment_id, -1e18) >= DRIFT_DEBOUNCE_SECONDS:
                _drift_sent[segment_id] = now
                due.append(segment_id)
    for segment_id in due:
        send("drift.update", [segment_id], countdown=DRIFT_DEBOUNCE_SECONDS)


def drift_update_due(segment_ids: set[int]) -> bool:
    """Whether :func:`request_drift_update` would send anything for these segments now (it
    checks again itself): lets ingest skip a hop to a worker thread when it would not."""
    now = time.monotonic()
    with _drift_lock:
        return any(
            now - _drift_sent.get(segment_id, -1e18) >= DRIFT_DEBOUNCE_SECONDS
            for segment_id in segment_ids
        )


def reset_producer() -> None:
    producer.cache_clear()
    with _drift_lock:
        _drift_sent.clear()


def queue_depths() -> dict[str, int]:
    """Messages waiting in each queue (kombu's virtual transports answer a passive declare
    with the message count, for Redis and the SQLAlchemy transport alike)."""
    depths: dict[str, int] = {}
    with producer().connection_for_write() as conn:
        channel = conn.default_channel
        for queue in QUEUES:
            try:
                depths[queue] = int(channel.queue_declare(queue=queue, passive=True).message_count)
            except Exception:  # noqa: BLE001 - an undeclared queue simply has no messages yet
                depths[queue] = 0
    return depths


def broker_reachable() -> None:
    """Raises when the broker does not answer within a few seconds."""
    with producer().connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=3)
