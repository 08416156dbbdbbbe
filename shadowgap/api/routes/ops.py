"""Health, readiness and Prometheus metrics.

``/healthz`` and ``/readyz`` are open (load balancers and orchestrators probe them without
keys, and they tell nothing about the traffic); ``/metrics`` needs a read key unless
``SHADOWGAP_METRICS_PUBLIC`` opens it for a scraper.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, Depends, Request, Response
from fastapi.concurrency import run_in_threadpool
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from sqlalchemy.orm import Session

from shadowgap import metrics
from shadowgap.api.auth.access import require_read
from shadowgap.api.deps import db_session, settings
from shadowgap.api.schemas import Health, Readiness, WorkersCheck
from shadowgap.config import Settings, get_settings
from shadowgap.db.engine import get_engine, session_scope
from shadowgap.llm.factory import flagship_problem, reverse_shadow_problem
from shadowgap.slo.exposition import slo_exposition
from shadowgap.worker import queue
from shadowgap.worker.heartbeats import embedded_model_problems, workers_seen

log = logging.getLogger(__name__)
router = APIRouter(tags=["operations"])


@router.get("/healthz", response_model=Health)
def healthz() -> dict[str, str]:
    return {"status": "ok"}


def _check_database() -> str | None:
    try:
        with get_engine().connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - readiness reports any failure
        return type(exc).__name__
    return None


def _check_broker() -> str | None:
    try:
        queue.broker_reachable()
    except Exception as exc:  # noqa: BLE001 - readiness reports any failure
        return type(exc).__name__
    return None


def _check_workers() -> dict[str, object]:
    settings = get_settings()
    now = datetime.now(UTC)
    stale_after = timedelta(seconds=settings.worker_stale_seconds)
    try:
        with session_scope() as session:
            seen = workers_seen(session, now, stale_after)
            model_problems = embedded_model_problems(session, now, stale_after)
    except Exception as exc:  # noqa: BLE001 - readiness reports any failure
        return {"status": type(exc).__name__}
    return {
        "status": "ok" if seen.alive else "no worker seen",
        "alive": seen.alive,
        "last_seen_seconds_ago": seen.seconds_since(now),
        # The embedded model's self-check as the live workers report it (not needed: "ok").
        "embedded_model": model_problems or "ok",
    }


@router.get("/readyz", response_model=Readiness, response_model_exclude_unset=True)
async def readyz(response: Response) -> dict[str, object]:
    """Whether this API can take traffic (database and broker). Workers and the flagship are
    reported too but do not fail it: ingest keeps accepting events while jobs wait."""
    database = await run_in_threadpool(_check_database)
    broker = await run_in_threadpool(_check_broker)
    workers = await run_in_threadpool(_check_workers)
    ready = database is None and broker is None
    response.status_code = 200 if ready else 503
    return {
        "status": "ready" if ready else "not ready",
        "database": database or "ok",
        "broker": broker or "ok",
        "workers": workers,
        "flagship": flagship_problem(get_settings()) or "ok",
        "reverse_shadow": reverse_shadow_problem(get_settings()) or "ok",
    }


@router.get("/readyz/workers", response_model=WorkersCheck, response_model_exclude_unset=True)
async def readyz_workers(response: Response) -> dict[str, object]:
    """503 when no worker has sent a heartbeat within SHADOWGAP_WORKER_STALE_SECONDS: jobs
    are piling up unprocessed. For monitoring, not for a load balancer."""
    workers = await run_in_threadpool(_check_workers)
    response.status_code = 200 if workers["status"] == "ok" else 503
    return workers


def _refresh_queue_depth() -> None:
    try:
        depths = queue.queue_depths()
    except Exception as exc:  # noqa: BLE001 - a scrape must not fail because the broker is down
        log.warning("queue depth unavailable", extra={"error": type(exc).__name__})
        return
    for name, depth in depths.items():
        metrics.QUEUE_DEPTH.labels(queue=name).set(depth)


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {
            "description": "Prometheus text exposition format.",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        }
    },
)
async def prometheus_metrics(
    request: Request, config: Settings = Depends(settings), db: Session = Depends(db_session)
) -> Response:
    if not config.metrics_public:
        await run_in_threadpool(require_read, request, config, db)  # may use the database
    await run_in_threadpool(_refresh_queue_depth)
    # The SLO gauges come from the database at each scrape, so every API worker agrees.
    slo = await run_in_threadpool(slo_exposition, db, config)
    return Response(generate_latest() + slo, media_type=CONTENT_TYPE_LATEST)
