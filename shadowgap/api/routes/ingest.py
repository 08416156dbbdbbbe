"""Ingest endpoints: the native schema and LiteLLM's logging callback payload.

Order matters: size limit, authentication, parsing and validation all happen before anything
is written; the batch is stored in one transaction (shared with concurrent requests, see
shadowgap/ingest/writer.py); jobs are sent only after it commits.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool

from shadowgap import metrics
from shadowgap.api.auth.signing import check_api_key, check_signature
from shadowgap.api.openapi import INGEST_RESPONSES, LITELLM_BODY, NATIVE_BODY
from shadowgap.config import get_settings
from shadowgap.errors import InvalidInput, PayloadTooLarge, ShadowgapError, UnsupportedMediaType
from shadowgap.ingest.gc_pause import gc_paused
from shadowgap.ingest.litellm import parse_litellm
from shadowgap.ingest.native import parse_native
from shadowgap.ingest.store import IngestRequest, prepare_request
from shadowgap.schemas import IngestResult, TrafficEvent

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


# A body this small parses and redacts in well under a millisecond (a few even on hostile
# text, whose redaction costs microseconds per character), less than a hop to a worker thread
# costs; a larger one (up to SHADOWGAP_MAX_BODY_BYTES, thousands of events) is verified,
# parsed and redacted in a thread so that the event loop keeps serving other requests.
INLINE_PARSE_MAX_BYTES = 4 * 1024


def _verify_and_parse(
    request: Request, body: bytes, parse: Callable[[bytes], list[TrafficEvent]], source: str
) -> IngestRequest:
    """Signature, parsing, the batch limit and redaction: everything CPU-bound before storing."""
    settings = get_settings()
    check_signature(request, body, settings)
    with gc_paused():
        events = parse(body)
    if len(events) > settings.max_batch_events:
        raise InvalidInput(
            f"batch of {len(events)} events exceeds the limit of {settings.max_batch_events}",
            field="body",
        )
    return prepare_request(events, source, settings)


# gzip's magic bytes: a compressed body sent without Content-Encoding.
_GZIP_MAGIC = b"\x1f\x8b"


def _refuse_compressed(request: Request, body: bytes) -> None:
    """A 415 for a compressed body (only the OTLP receiver inflates): parsed as JSON, it was
    a 422 about UTF-8 surrogates, which says nothing useful to the sender."""
    coding = (request.headers.get("content-encoding") or "identity").strip().lower()
    if coding != "identity" or body.startswith(_GZIP_MAGIC):
        raise UnsupportedMediaType(
            "compressed bodies are not accepted here: send the JSON uncompressed "
            "(without Content-Encoding); only POST /v1/traces takes gzip"
        )


async def _ingest(
    request: Request, source: str, parse: Callable[[bytes], list[TrafficEvent]]
) -> IngestResult:
    settings = get_settings()
    started = time.perf_counter()
    try:
        body = await _read_body(request, settings.max_body_bytes)
        await check_api_key(request, settings)
        _refuse_compressed(request, body)
        if len(body) <= INLINE_PARSE_MAX_BYTES:
            prepared = _verify_and_parse(request, body, parse, source)
        else:
            prepared = await run_in_threadpool(_verify_and_parse, request, body, parse, source)
        batch = await request.app.state.writer.submit(prepared)
    except ShadowgapError as exc:
        metrics.INGEST_REQUESTS.labels(format=source, status=str(exc.status_code)).inc()
        if isinstance(exc, InvalidInput):
            metrics.EVENTS.labels(format=source, outcome="rejected").inc()
        raise
    metrics.INGEST_REQUESTS.labels(format=source, status="200").inc()
    metrics.EVENTS.labels(format=source, outcome="new").inc(batch.new)
    metrics.EVENTS.labels(format=source, outcome="duplicate").inc(batch.duplicates)
    metrics.SAMPLED.inc(batch.sampled)
    metrics.BUDGET_EXHAUSTED.set(1 if batch.budget_exhausted else 0)
    metrics.INGEST_SECONDS.labels(format=source).observe(time.perf_counter() - started)
    return IngestResult(
        accepted=batch.accepted,
        new=batch.new,
        duplicates=batch.duplicates,
        sampled=batch.sampled,
    )


@router.post(
    "/v1/events",
    response_model=IngestResult,
    responses=INGEST_RESPONSES,
    openapi_extra=NATIVE_BODY,
)
async def ingest_native(request: Request) -> IngestResult:
    """One event, a JSON array of events, or NDJSON, in the native schema (see README)."""
    return await _ingest(request, "native", parse_native)


@router.post(
    "/v1/ingest/litellm",
    response_model=IngestResult,
    responses=INGEST_RESPONSES,
    openapi_extra=LITELLM_BODY,
)
async def ingest_litellm(request: Request) -> IngestResult:
    """LiteLLM's generic API logging callback: StandardLoggingPayload, single or batched."""
    return await _ingest(request, "litellm", parse_litellm)
