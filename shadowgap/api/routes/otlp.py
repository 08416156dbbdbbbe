"""OTLP/HTTP trace and log receivers: ``POST /v1/traces``, ``POST /v1/logs``.

Logs carry an LLM span's content for instrumentations that write it there (joined to the span
by shadowgap/ingest/otlp_join.py); both routes behave alike on the wire.

Speaks OTLP/HTTP as exporters expect it: binary protobuf (``application/x-protobuf``) or OTLP
JSON (``application/json``), optionally ``Content-Encoding: gzip``; the response uses the
request's encoding. Success is 200 with an ``ExportTraceServiceResponse`` (its
``partial_success`` counts the LLM spans refused on their own). Failures carry a
``google.rpc.Status`` with the message: 400 malformed request, 401 missing or wrong key, 413 too
large, 415 another content type or encoding - none of which an exporter retries - and 503 when
the database cannot take the batch, which exporters and Collectors retry with backoff (ingest is
idempotent, so a retried batch is stored once).

Authentication is the ingest Bearer key only: a Collector's ``otlphttp`` exporter sends static
headers and cannot sign bodies, so the HMAC signature is not required here.
"""

from __future__ import annotations

import logging
import time
import zlib
from collections.abc import Callable
from typing import Protocol

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from google.protobuf import json_format
from google.protobuf.message import Message
from google.rpc import code_pb2, status_pb2
from sqlalchemy.exc import SQLAlchemyError

from shadowgap import metrics
from shadowgap.api.auth.signing import check_api_key
from shadowgap.api.routes.ingest import INLINE_PARSE_MAX_BYTES, _read_body
from shadowgap.config import Settings, get_settings
from shadowgap.errors import (
    InvalidInput,
    PayloadTooLarge,
    ShadowgapError,
    Unauthorized,
    Unavailable,
    UnsupportedMediaType,
)
from shadowgap.ingest import otlp_logs
from shadowgap.ingest.gc_pause import gc_paused
from shadowgap.ingest.otlp import Encoding, decode_request, parse_request
from shadowgap.ingest.store import IngestRequest, StoredBatch, prepare_request
from shadowgap.schemas import TrafficEvent

log = logging.getLogger(__name__)
router = APIRouter(tags=["ingest"])

SOURCE = "otlp"
MEDIA_TYPES: dict[str, Encoding] = {
    "application/x-protobuf": "protobuf",
    "application/json": "json",
}
RETRY_AFTER_SECONDS = 5
# Error -> (HTTP status, google.rpc code). OTLP/HTTP answers bad data with 400, not 422.
_FAILURES: dict[type[ShadowgapError], tuple[int, int]] = {
    InvalidInput: (400, code_pb2.INVALID_ARGUMENT),
    Unauthorized: (401, code_pb2.UNAUTHENTICATED),
    PayloadTooLarge: (413, code_pb2.RESOURCE_EXHAUSTED),
    UnsupportedMediaType: (415, code_pb2.INVALID_ARGUMENT),
    Unavailable: (503, code_pb2.UNAVAILABLE),
}


class _Parsed(Protocol):
    events: list[TrafficEvent]
    rejected: list[str]
    skipped: int

    def response(self) -> Message: ...


_Decoder = Callable[[bytes, Encoding, Settings], _Parsed]


@router.post(
    "/v1/traces",
    response_class=Response,
    responses={200: {"content": {"application/x-protobuf": {}, "application/json": {}}}},
)
async def export_traces(request: Request) -> Response:
    """OTLP/HTTP traces: LLM spans become events; other spans are skipped (see README)."""
    response, parsed = await _export(request, _traces)
    if parsed is not None:
        metrics.OTLP_SKIPPED_SPANS.inc(parsed.skipped)
    return response


@router.post(
    "/v1/logs",
    response_class=Response,
    responses={200: {"content": {"application/x-protobuf": {}, "application/json": {}}}},
)
async def export_logs(request: Request) -> Response:
    """OTLP/HTTP logs: GenAI content records are joined to their LLM span; others skipped."""
    response, _ = await _export(request, _logs)
    return response


def _traces(body: bytes, encoding: Encoding, settings: Settings) -> _Parsed:
    return parse_request(decode_request(body, encoding), settings)


def _logs(body: bytes, encoding: Encoding, settings: Settings) -> _Parsed:
    return otlp_logs.parse_request(otlp_logs.decode_request(body, encoding), settings)


async def _export(request: Request, decoder: _Decoder) -> tuple[Response, _Parsed | None]:
    settings = get_settings()
    started = time.perf_counter()
    encoding = _encoding(request.headers.get("content-type", ""))
    try:
        body = await _read_body(request, settings.max_body_bytes)
        check_api_key(request, settings)
        if encoding is None:
            raise UnsupportedMediaType(
                "Content-Type must be application/x-protobuf or application/json (OTLP/HTTP)"
            )
        content_encoding = request.headers.get("content-encoding")
        if len(body) <= INLINE_PARSE_MAX_BYTES and content_encoding in (None, "identity"):
            parsed, prepared = _decode(body, content_encoding, encoding, settings, decoder)
        else:
            # Inflating, decoding and mapping megabytes takes seconds of CPU: off the loop,
            # as the native route parses (a gzip body of any size can inflate to the limit).
            parsed, prepared = await run_in_threadpool(
                _decode, body, content_encoding, encoding, settings, decoder
            )
        stored = await _store(request, prepared)
    except ShadowgapError as exc:
        http_status, code = _FAILURES.get(type(exc), (exc.status_code, code_pb2.UNKNOWN))
        metrics.INGEST_REQUESTS.labels(format=SOURCE, status=str(http_status)).inc()
        response = _status(http_status, code, exc.message, encoding)
        if isinstance(exc, Unavailable):  # the writer's answer to a database outage
            response.headers["Retry-After"] = str(exc.retry_after)
        return response, None
    except SQLAlchemyError as exc:
        # The exporter retries 503 with backoff; nothing of this request was committed.
        metrics.INGEST_REQUESTS.labels(format=SOURCE, status="503").inc()
        log.warning("OTLP batch not stored", extra={"error": type(exc).__name__})
        response = _status(
            503, code_pb2.UNAVAILABLE, "the database is unavailable; retry later", encoding
        )
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response, None
    metrics.INGEST_REQUESTS.labels(format=SOURCE, status="200").inc()
    metrics.EVENTS.labels(format=SOURCE, outcome="new").inc(stored.new)
    metrics.EVENTS.labels(format=SOURCE, outcome="duplicate").inc(stored.duplicates)
    metrics.EVENTS.labels(format=SOURCE, outcome="rejected").inc(len(parsed.rejected))
    metrics.SAMPLED.inc(stored.sampled)
    metrics.INGEST_SECONDS.labels(format=SOURCE).observe(time.perf_counter() - started)
    return _message(200, parsed.response(), encoding or "protobuf"), parsed


def _encoding(content_type: str) -> Encoding | None:
    return MEDIA_TYPES.get(content_type.split(";")[0].strip().lower())


def _decompress(body: bytes, content_encoding: str | None, limit: int) -> bytes:
    coding = (content_encoding or "identity").strip().lower()
    if coding == "identity":
        return body
    if coding != "gzip":
        raise UnsupportedMediaType(f"Content-Encoding {coding!r} is not supported: use gzip")
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        data = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise InvalidInput(f"the body is not valid gzip: {exc}", field="body") from exc
    # Checked on the inflated size too: a small gzip body can expand enormously.
    if len(data) > limit or inflater.unconsumed_tail:
        raise PayloadTooLarge(f"decompressed body larger than the limit of {limit} bytes")
    if not inflater.eof:
        raise InvalidInput("the gzip body is truncated", field="body")
    return data


def _decode(
    body: bytes,
    content_encoding: str | None,
    encoding: Encoding,
    settings: Settings,
    decoder: _Decoder,
) -> tuple[_Parsed, list[IngestRequest]]:
    """Everything CPU-bound before storing: inflate, decode, map spans to events, and prepare
    them (redaction) in slices of the batch limit (a Collector's batches can be larger than a
    native batch; each slice is idempotent, so a retried request after a failed slice stores
    the rest once)."""
    with gc_paused():
        body = _decompress(body, content_encoding, settings.max_body_bytes)
        parsed = decoder(body, encoding, settings)
        size = settings.max_batch_events
        prepared = [
            prepare_request(parsed.events[start : start + size], SOURCE, settings)
            for start in range(0, len(parsed.events), size)
        ]
    return parsed, prepared


async def _store(request: Request, prepared: list[IngestRequest]) -> StoredBatch:
    """Store the prepared slices through the group-commit writer, one after the other."""
    total = StoredBatch(accepted=0, new=0, duplicates=0)
    for ingest_request in prepared:
        batch = await request.app.state.writer.submit(ingest_request)
        total.accepted += batch.accepted
        total.new += batch.new
        total.duplicates += batch.duplicates
        total.sampled += batch.sampled
        metrics.BUDGET_EXHAUSTED.set(1 if batch.budget_exhausted else 0)
    return total


def _status(http_status: int, code: int, message: str, encoding: Encoding | None) -> Response:
    return _message(http_status, status_pb2.Status(code=code, message=message), encoding or "json")


def _message(http_status: int, message: Message, encoding: Encoding) -> Response:
    if encoding == "protobuf":
        return Response(
            message.SerializeToString(),
            status_code=http_status,
            media_type="application/x-protobuf",
        )
    return Response(
        json_format.MessageToJson(message, indent=None),
        status_code=http_status,
        media_type="application/json",
    )
