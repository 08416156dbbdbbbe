"""OTLP logs that carry an LLM span's content are joined to the span, in either order; a half
whose partner never comes is dropped after the wait, counted, and never stored."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from prometheus_client import REGISTRY
from sqlalchemy import select

from shadowgap.config import Settings
from shadowgap.db import models
from shadowgap.db.engine import session_scope
from shadowgap.ingest import otlp_join, otlp_logs
from shadowgap.ingest.otlp import decode_json, parse_request
from shadowgap.ingest.otlp_join import Joiner
from tests.support.otlp import json_log_record, json_span, otlp_json, otlp_logs_json
from tests.support.settings import API_KEY

SPAN_ID = "00000000000000a1"
# The span of opentelemetry-instrumentation-openai-v2 with event_only: no content on it.
V2_SPAN = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "openai",
    "gen_ai.request.model": "gpt-4o-mini",
    "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
    "gen_ai.usage.input_tokens": 42,
    "gen_ai.usage.output_tokens": 9,
}
INPUT = [
    {"role": "system", "parts": [{"type": "text", "content": "You are terse."}]},
    {"role": "user", "parts": [{"type": "text", "content": "Capital of France?"}]},
]
OUTPUT = [
    {
        "role": "assistant",
        "parts": [{"type": "text", "content": "Paris."}],
        "finish_reason": "stop",
    }
]
DETAILS = {
    **V2_SPAN,
    "gen_ai.input.messages": json.dumps(INPUT),
    "gen_ai.output.messages": json.dumps(OUTPUT),
}


@pytest.fixture(autouse=True)
def joiner(monkeypatch: pytest.MonkeyPatch) -> Iterator[Joiner]:
    fresh = Joiner()
    monkeypatch.setattr(otlp_join, "JOINER", fresh)
    yield fresh


def _traces(span_id: str = SPAN_ID, attributes: dict[str, object] | None = None) -> bytes:
    return otlp_json([json_span(span_id, attributes or V2_SPAN, name="chat gpt-4o-mini")])


def _logs(span_id: str = SPAN_ID) -> bytes:
    return otlp_logs_json(
        [
            json_log_record(span_id, "gen_ai.client.inference.operation.details", DETAILS),
            json_log_record(span_id, "app.log", {"level": "info"}, body="unrelated"),
        ]
    )


def _from_logs(body: bytes) -> otlp_logs.ParsedLogs:
    return otlp_logs.parse_request(otlp_logs.decode_request(body, "json"), Settings())


def test_a_span_waits_for_its_log_record_and_is_mapped_with_it() -> None:
    traces = parse_request(decode_json(_traces()), Settings())
    assert (traces.events, traces.rejected) == ([], [])
    assert len(traces.waiting) == 1
    warning = traces.response().partial_success
    assert warning.rejected_spans == 0 and "wait 120 s" in warning.error_message

    logs = _from_logs(_logs())
    assert logs.skipped == 1  # the application's own log record
    (event,) = logs.events
    assert event.event_id == f"otlp-5b8efff798038103d269b633813fc60c-{SPAN_ID}"
    assert [(m.role, m.content) for m in event.request.messages] == [
        ("system", "You are terse."),
        ("user", "Capital of France?"),
    ]
    assert event.answer == "Paris."
    assert (event.route.tier, event.route.model) == ("gpt-4o-mini", "gpt-4o-mini-2024-07-18")
    assert (event.usage.prompt_tokens, event.usage.completion_tokens) == (42, 9)
    assert event.latency_ms == pytest.approx(1250.0)  # from the span, not the record
    assert otlp_join.JOINER.waiting() == (0, 0)


def test_a_log_record_that_comes_first_waits_for_its_span() -> None:
    logs = _from_logs(_logs())
    assert (logs.events, logs.waiting) == ([], 1)
    traces = parse_request(decode_json(_traces()), Settings())
    (event,) = traces.events
    assert traces.waiting == []
    assert event.prompt_text().endswith("Capital of France?")
    assert otlp_join.JOINER.waiting() == (0, 0)


def test_records_of_a_span_that_had_its_own_content_are_dropped_as_copies() -> None:
    """OpenLIT writes the content on the span and on a log record: the span is enough."""
    span = parse_request(decode_json(_traces(attributes=DETAILS)), Settings())
    assert len(span.events) == 1
    logs = _from_logs(_logs())
    assert logs.events == []
    assert otlp_join.JOINER.waiting() == (0, 0)


def _unjoined(half: str) -> float:
    return REGISTRY.get_sample_value("shadowgap_otlp_unjoined_total", {"half": half}) or 0.0


def test_halves_whose_partner_never_comes_are_dropped_and_counted(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(otlp_join, "JOINER", Joiner(wait_seconds=0.0))
    spans_before, logs_before = _unjoined("span"), _unjoined("logs")
    parse_request(decode_json(_traces("00000000000000b1")), Settings())
    _from_logs(_logs("00000000000000b2"))
    # The next arrival finds both expired: neither becomes an event, late partners neither.
    late = _from_logs(_logs("00000000000000b1"))
    assert late.events == []
    assert _unjoined("span") == spans_before + 1
    assert _unjoined("logs") == logs_before + 1
    (record,) = [r for r in caplog.records if "OTLP LLM span dropped" in r.getMessage()]
    assert record.span_id == "00000000000000b1"  # type: ignore[attr-defined]
    assert "Capital" not in str(record.__dict__)  # ids and the reason, never content


def test_the_waiting_halves_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(otlp_join, "JOINER", Joiner(capacity=2))
    for i in range(5):
        _from_logs(_logs(f"{i + 1:016x}"))
    assert otlp_join.JOINER.waiting() == (0, 2)

    # In bytes too: one details record is ~500 bytes of attributes; 1,200 hold two.
    before = _unjoined("logs")
    monkeypatch.setattr(otlp_join, "JOINER", Joiner(max_bytes=1200))
    for i in range(5):
        _from_logs(_logs(f"{i + 1:016x}"))
    assert otlp_join.JOINER.waiting() == (0, 2)
    assert _unjoined("logs") == before + 3
    # The two newest are the ones kept: the span of the fifth still joins.
    (event,) = parse_request(decode_json(_traces(f"{5:016x}")), Settings()).events
    assert event.answer == "Paris."


def test_records_per_span_are_capped(joiner: Joiner) -> None:
    many = otlp_logs_json(
        [json_log_record(SPAN_ID, "gen_ai.user.message", {"content": f"m{i}"}) for i in range(200)]
    )
    _from_logs(many)
    (event,) = parse_request(decode_json(_traces()), Settings()).events
    assert len(event.request.messages) == otlp_join.MAX_RECORDS_PER_SPAN


def test_post_v1_logs_joins_json_and_gzip_protobuf(embedded: str, client: TestClient) -> None:
    headers = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}
    response = client.post("/v1/traces", content=_traces(), headers=headers)
    assert response.status_code == 200, response.text
    response = client.post("/v1/logs", content=_logs(), headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"

    # Logs first this time, as protobuf with gzip; then the span.
    wire = otlp_logs.decode_request(_logs("00000000000000c1"), "json").SerializeToString()
    response = client.post(
        "/v1/logs",
        content=gzip.compress(wire),
        headers={
            **headers,
            "Content-Type": "application/x-protobuf",
            "Content-Encoding": "gzip",
        },
    )
    assert response.status_code == 200, response.text
    assert (
        ExportLogsServiceResponse.FromString(response.content).partial_success.error_message == ""
    )
    response = client.post("/v1/traces", content=_traces("00000000000000c1"), headers=headers)
    assert response.status_code == 200, response.text

    with session_scope() as session:
        rows = session.execute(select(models.TrafficEvent.event_id, models.TrafficEvent.answer))
        stored = sorted(rows.all())
    assert [(event_id[-16:], answer) for event_id, answer in stored] == [
        ("00000000000000a1", "Paris."),
        ("00000000000000c1", "Paris."),
    ]


def test_post_v1_logs_refuses_what_is_not_otlp(embedded: str, client: TestClient) -> None:
    headers = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}
    assert client.post("/v1/logs", content=b"[1]", headers=headers).status_code == 400
    bad_id = otlp_logs_json(
        [
            {
                **json.loads(_logs())["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0],
                "spanId": "xyz",
            }
        ]
    )
    response = client.post("/v1/logs", content=bad_id, headers=headers)
    assert response.status_code == 400
    assert "logRecords[0].spanId" in response.json()["message"]
    unauthorized = client.post(
        "/v1/logs", content=_logs(), headers={"Content-Type": "application/json"}
    )
    assert unauthorized.status_code == 401


def test_a_retried_request_joins_again_so_a_failed_store_loses_nothing() -> None:
    """When the request that joined a span fails to store (the database is down: 503), the
    exporter sends it again: the halves are still here, and the event id stores it once."""
    parse_request(decode_json(_traces()), Settings())
    (first,) = _from_logs(_logs()).events
    (again,) = _from_logs(_logs()).events  # the logs request, retried
    assert again.event_id == first.event_id
    assert again.request.messages == first.request.messages

    # Logs first, then the span's request twice.
    _from_logs(_logs("00000000000000e1"))
    (span_first,) = parse_request(decode_json(_traces("00000000000000e1")), Settings()).events
    (span_again,) = parse_request(decode_json(_traces("00000000000000e1")), Settings()).events
    assert span_again.event_id == span_first.event_id
    assert span_again.answer == "Paris."
    assert otlp_join.JOINER.waiting() == (0, 0)
