"""POST /v1/traces end to end: the real OpenTelemetry SDK and its OTLP/HTTP protobuf exporter
send spans over HTTP to the app served by uvicorn, on SQLite and on PostgreSQL + Redis."""

from __future__ import annotations

import gzip
import socket
import threading
import time
from collections.abc import Callable, Iterator

import httpx
import pytest
import uvicorn
from google.rpc import status_pb2
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceResponse,
)
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExportResult
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select

from shadowgap.db import models
from shadowgap.db.engine import session_scope
from tests.support.fake_router import FakeRouter
from tests.support.otlp import CHEAP_ROW, HARD_ROW, openinference_span, otlp_json
from tests.support.settings import API_KEY, auth

PROTOBUF = {"Content-Type": "application/x-protobuf"}
AUTH = {"Authorization": f"Bearer {API_KEY}"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def server(any_db: str) -> Iterator[str]:
    """The app under uvicorn on a free port, in a thread of the test process."""
    from shadowgap.api.app import create_app

    port = _free_port()
    config = uvicorn.Config(create_app(), host="127.0.0.1", port=port, log_level="warning")
    instance = uvicorn.Server(config)
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not instance.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    instance.should_exit = True
    thread.join(timeout=30)


def _exporter(url: str, **kwargs: object) -> OTLPSpanExporter:
    return OTLPSpanExporter(
        endpoint=f"{url}/v1/traces",
        headers=AUTH,
        timeout=10,
        **kwargs,  # type: ignore[arg-type]
    )


def _events() -> list[models.TrafficEvent]:
    with session_scope() as session:
        rows = session.execute(select(models.TrafficEvent).order_by(models.TrafficEvent.id))
        events = list(rows.scalars())
        session.expunge_all()
        return events


def _event_count() -> int:
    with session_scope() as session:
        return int(session.execute(select(func.count(models.TrafficEvent.id))).scalar_one())


def _skipped(url: str) -> float:
    text = httpx.get(f"{url}/metrics", headers=auth("read")).text
    for family in text_string_to_metric_families(text):
        if family.name == "shadowgap_otlp_skipped_spans":
            return sum(sample.value for sample in family.samples if sample.name.endswith("_total"))
    return 0.0


def test_sdk_batch_exporter_spans_land_as_events_with_route_and_segment(server: str) -> None:
    router = FakeRouter("semconv", processor=BatchSpanProcessor(_exporter(server)))
    cheap = router.handle(CHEAP_ROW, tenant="acme", user="u-1")
    hard = router.handle(HARD_ROW, tenant="globex", user="u-2")
    assert router.provider.force_flush(timeout_millis=30_000)
    router.provider.shutdown()

    by_prompt = {e.request["messages"][-1]["content"]: e for e in _events()}
    assert len(by_prompt) == 2
    for call in (cheap, hard):
        event = by_prompt[call.prompt]
        assert event.source_format == "otlp"
        assert (event.route_tier, event.route_model) == (call.tier, call.model)
        assert event.route_score == pytest.approx(call.score)
        assert event.is_cheap is (call.tier == "cheap")
        assert event.attributes["tenant"] == call.tenant
        assert event.attributes["user"] == call.user
        assert event.answer == call.answer
    with session_scope() as session:
        keys = set(session.execute(select(models.Segment.key)).scalars())
    assert keys == {"tenant=acme", "tenant=globex"}


def test_redelivered_spans_are_stored_once(server: str) -> None:
    router = FakeRouter("openllmetry")
    router.handle(CHEAP_ROW)
    router.handle(HARD_ROW)
    exporter = _exporter(server)
    assert exporter.export(router.spans()) is SpanExportResult.SUCCESS
    assert exporter.export(router.spans()) is SpanExportResult.SUCCESS
    assert _event_count() == 2
    with session_scope() as session:
        counts = session.execute(select(models.Segment.event_count)).scalars().all()
    assert sum(counts) == 2  # the redelivery was not counted into the segment either


def test_gzip_from_the_exporter_and_by_hand(server: str) -> None:
    router = FakeRouter("openinference")
    router.handle(CHEAP_ROW)
    assert _exporter(server, compression=Compression.Gzip).export(router.spans()) is (
        SpanExportResult.SUCCESS
    )
    assert _event_count() == 1
    stored = _events()[0]
    assert "sk-must-not-be-stored" not in str(stored.request)

    body = gzip.compress(otlp_json([openinference_span("0000000000000009", "Hi", "Hello")]))
    response = httpx.post(
        f"{server}/v1/traces",
        content=body,
        headers={**AUTH, "Content-Type": "application/json", "Content-Encoding": "gzip"},
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {}
    assert _event_count() == 2

    truncated = httpx.post(
        f"{server}/v1/traces",
        content=body[:-8],
        headers={**AUTH, "Content-Type": "application/json", "Content-Encoding": "gzip"},
    )
    assert truncated.status_code == 400
    assert "gzip" in truncated.json()["message"]


def test_the_size_limit_applies_after_decompression(
    server: str, configure: Callable[..., None]
) -> None:
    configure(max_body_bytes=4096)
    bomb = gzip.compress(b"{" + b" " * 100_000 + b"}")  # about 150 bytes on the wire
    response = httpx.post(
        f"{server}/v1/traces",
        content=bomb,
        headers={**AUTH, "Content-Type": "application/json", "Content-Encoding": "gzip"},
    )
    assert response.status_code == 413
    assert "decompressed body larger than the limit of 4096 bytes" in response.json()["message"]


def test_ingest_key_is_required(server: str) -> None:
    router = FakeRouter("semconv")
    router.handle(CHEAP_ROW)
    body = encode_spans(router.spans()).SerializeToString()

    missing = httpx.post(f"{server}/v1/traces", content=body, headers=PROTOBUF)
    assert missing.status_code == 401
    assert missing.headers["content-type"] == "application/x-protobuf"
    status = status_pb2.Status.FromString(missing.content)
    assert "missing API key" in status.message
    wrong = httpx.post(
        f"{server}/v1/traces",
        content=body,
        headers={**PROTOBUF, "Authorization": "Bearer not-the-key"},
    )
    assert wrong.status_code == 401
    assert API_KEY not in wrong.text and "not-the-key" not in wrong.text
    unauthenticated = OTLPSpanExporter(endpoint=f"{server}/v1/traces", timeout=10)
    assert unauthenticated.export(router.spans()) is SpanExportResult.FAILURE
    assert _event_count() == 0


def test_bad_protobuf_is_a_400_with_a_clear_message(server: str) -> None:
    router = FakeRouter("semconv")
    router.handle(CHEAP_ROW)
    wire = encode_spans(router.spans()).SerializeToString()
    response = httpx.post(
        f"{server}/v1/traces", content=wire[: len(wire) // 2], headers={**AUTH, **PROTOBUF}
    )
    assert response.status_code == 400
    status = status_pb2.Status.FromString(response.content)
    assert status.message.startswith(
        "the body is not a protobuf-encoded OTLP ExportTraceServiceRequest"
    )
    other = httpx.post(
        f"{server}/v1/traces", content=b"<xml/>", headers={**AUTH, "Content-Type": "text/xml"}
    )
    assert other.status_code == 415
    assert "application/x-protobuf or application/json" in other.json()["message"]
    assert _event_count() == 0


def test_partial_success_names_rejected_spans_and_stores_the_rest(server: str) -> None:
    no_prompt = {
        "traceId": "5b8efff798038103d269b633813fc60c",
        "spanId": "00000000000000ff",
        "name": "chat gpt-4o",
        "startTimeUnixNano": "1764590400000000000",
        "endTimeUnixNano": "1764590401000000000",
        "attributes": [
            {"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
            {"key": "gen_ai.request.model", "value": {"stringValue": "gpt-4o"}},
        ],
    }
    body = otlp_json([openinference_span("0000000000000001", "What is 2+2?", "4"), no_prompt])
    # As protobuf too: the partial success is a field of the protobuf response.
    from shadowgap.ingest.otlp import decode_json

    wire = decode_json(body).SerializeToString()
    response = httpx.post(f"{server}/v1/traces", content=wire, headers={**AUTH, **PROTOBUF})
    assert response.status_code == 200
    answer = ExportTraceServiceResponse.FromString(response.content)
    # Not refused: it waits for log records that may carry its content (a warning says so).
    assert answer.partial_success.rejected_spans == 0
    assert "00000000000000ff" in answer.partial_success.error_message
    assert "no prompt recorded" in answer.partial_success.error_message
    assert _event_count() == 1

    as_json = httpx.post(
        f"{server}/v1/traces", content=body, headers={**AUTH, "Content-Type": "application/json"}
    )
    assert as_json.status_code == 200
    partial = as_json.json()["partialSuccess"]
    assert int(partial.get("rejectedSpans", 0)) == 0  # a warning only: it still waits
    assert "wait 120 s for their OTLP log records" in partial["errorMessage"]
    assert _event_count() == 1  # the good span was already stored


def test_collector_style_mixed_batch(server: str) -> None:
    """What a Collector forwards: several services' resources in one request, LLM spans among
    HTTP, database and framework spans; only the LLM spans are stored, the rest counted."""
    routers = [
        FakeRouter("semconv", service="router-api"),
        FakeRouter("openinference", service="rag-service"),
        FakeRouter("openllmetry", service="batch-worker"),
    ]
    for number, router in enumerate(routers):
        router.handle(CHEAP_ROW + number, tenant=f"tenant-{number}")
    merged = encode_spans([span for router in routers for span in router.spans()])
    assert len(merged.resource_spans) == 3
    before = _skipped(server)
    response = httpx.post(
        f"{server}/v1/traces", content=merged.SerializeToString(), headers={**AUTH, **PROTOBUF}
    )
    assert response.status_code == 200
    assert not ExportTraceServiceResponse.FromString(response.content).HasField("partial_success")
    events = _events()
    assert len(events) == 3
    assert {e.attributes["metadata"]["service.name"] for e in events} == {
        "router-api",
        "rag-service",
        "batch-worker",
    }
    assert {e.attributes["tenant"] for e in events} == {"tenant-0", "tenant-1", "tenant-2"}
    assert _skipped(server) - before == 9  # server, route and database spans of 3 requests


def test_an_unreachable_database_is_a_retryable_503(
    server: str, any_db: str, configure: Callable[..., None]
) -> None:
    body = otlp_json([openinference_span("0000000000000007", "What is 3+3?", "6")])
    headers = {**AUTH, "Content-Type": "application/json"}
    # Nothing listens on this port: every connection is refused.
    configure(database_url=f"postgresql+psycopg://postgres@127.0.0.1:{_free_port()}/gone")
    down = httpx.post(f"{server}/v1/traces", content=body, headers=headers)
    assert down.status_code == 503
    assert down.headers["retry-after"] == "5"  # exporters wait this long before retrying
    assert down.json() == {"code": 14, "message": "the database is unavailable; retry later"}
    configure(database_url=any_db)
    again = httpx.post(f"{server}/v1/traces", content=body, headers=headers)
    assert again.status_code == 200
    assert _event_count() == 1
