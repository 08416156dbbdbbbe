"""SLO stage: the burn-rate looks over every segment (beat: the quality SLO every
SHADOWGAP_SLO_LOOK_HOURS, the latency and error-rate SLOs every
SHADOWGAP_SLO_REQUEST_LOOK_MINUTES)."""

from __future__ import annotations

from datetime import UTC, datetime

from shadowgap.config import get_settings
from shadowgap.db.engine import session_scope
from shadowgap.slo import alerting
from shadowgap.worker import queue
from shadowgap.worker.app import app


@app.task(name="slo.evaluate", acks_late=True, soft_time_limit=300, time_limit=360)
def evaluate() -> int:
    with session_scope() as session:
        delivery_ids = alerting.evaluate(session, get_settings(), datetime.now(UTC))
    for delivery_id in delivery_ids:
        queue.send("alerts.deliver", [delivery_id])
    return len(delivery_ids)


@app.task(name="slo.evaluate_requests", acks_late=True, soft_time_limit=240, time_limit=290)
def evaluate_requests() -> int:
    with session_scope() as session:
        delivery_ids = alerting.evaluate_requests(session, get_settings(), datetime.now(UTC))
    for delivery_id in delivery_ids:
        queue.send("alerts.deliver", [delivery_id])
    return len(delivery_ids)
