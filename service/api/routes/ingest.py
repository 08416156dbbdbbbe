"""Ingest endpoints: the native schema and LiteLLM's logging callback payload.

Order matters: size limit, authentication, parsing and validation all happen before anything
is written; the batch is stored in one transaction; jobs are sent only after it commits.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool

from service import metrics, queue
from service.api.auth import check_api_key, check_signature
from service.config import Settings, get_settings
from service.db import session_scope
from service.errors import InvalidInput, PayloadTooLarge, ShadowgapError
from service.ingest.enqueue import enqueue_decisions
from service.ingest.litellm import parse_litellm
from service.ingest.native import parse_native
from service.ingest.store import StoredBatch, store_events
from service.schemas import IngestResult, TrafficEvent

log = logging.getLogger(__name__)
router = APIRouter(tags=["ingest"])


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"body larger than the limit of {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"body larger than the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _store(events: list[TrafficEvent], source: str, settings: Settings) -> StoredBatch:
    with session_scope() as session:
        return store_events(session, events, source, settings, datetime.now(UTC))


def _after_commit(batch: StoredBatch) -> None:
    """Hand the new work to the broker. A broker outage loses nothing: unsent decisions keep
    ``enqueued_at`` empty and shadow.sweep sends them later."""
    try:
        enqueue_decisions(batch.decision_ids)
        if batch.segment_ids:
            queue.request_drift_update(batch.segment_ids)
    except Exception as exc:  # noqa: BLE001 - the events are stored; the sweep retries
        metrics.ENQUEUE_FAILURES.inc()
        log.warning("could not enqueue after ingest", extra={"error": type(exc).__name__})


async def _ingest(
    request: Request, source: str, parse: Callable[[bytes], list[TrafficEvent]]
) -> IngestResult:
    settings = get_settings()
    started = time.perf_counter()
    try:
        body = await _read_body(request, settings.max_body_bytes)
        check_api_key(request, settings)
        check_signature(request, body, settings)
        events = parse(body)
        if len(events) > settings.max_batch_events:
            raise InvalidInput(
                f"batch of {len(events)} events exceeds the limit of {settings.max_batch_events}",
                field="body",
            )
        batch = await run_in_threadpool(_store, events, source, settings)
    except ShadowgapError as exc:
        metrics.INGEST_REQUESTS.labels(format=source, status=str(exc.status_code)).inc()
        if isinstance(exc, InvalidInput):
            metrics.EVENTS.labels(format=source, outcome="rejected").inc()
        raise
    await run_in_threadpool(_after_commit, batch)
    metrics.INGEST_REQUESTS.labels(format=source, status="200").inc()
    metrics.EVENTS.labels(format=source, outcome="new").inc(batch.new)
    metrics.EVENTS.labels(format=source, outcome="duplicate").inc(batch.duplicates)
    metrics.SAMPLED.inc(len(batch.decision_ids))
    metrics.BUDGET_EXHAUSTED.set(1 if batch.budget_exhausted else 0)
    metrics.INGEST_SECONDS.labels(format=source).observe(time.perf_counter() - started)
    return IngestResult(
        accepted=batch.accepted,
        new=batch.new,
        duplicates=batch.duplicates,
        sampled=len(batch.decision_ids),
    )


@router.post("/v1/events", response_model=IngestResult)
async def ingest_native(request: Request) -> IngestResult:
    """One event, a JSON array of events, or NDJSON, in the native schema (see README)."""
    return await _ingest(request, "native", parse_native)


@router.post("/v1/ingest/litellm", response_model=IngestResult)
async def ingest_litellm(request: Request) -> IngestResult:
    """LiteLLM's generic API logging callback: StandardLoggingPayload, single or batched."""
    return await _ingest(request, "litellm", parse_litellm)
