"""OTLP spans -> TrafficEvents: spans made by the real OpenTelemetry SDK (encoded by its OTLP
exporter's own encoder) for each convention, and OTLP JSON written to the specification."""

from __future__ import annotations

import json
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from pydantic import ValidationError

from shadowgap.config import Settings
from shadowgap.errors import InvalidInput
from shadowgap.ingest.otlp import ParsedTraces, decode_json, decode_protobuf, parse_request
from shadowgap.ingest.store import is_cheap
from shadowgap.schemas import TrafficEvent
from tests.support.factories import CHEAP_MODEL, FLAGSHIP_MODEL, gsm8k_rows
from tests.support.fake_router import CONVENTIONS, SYSTEM_PROMPT, Call, FakeRouter
from tests.support.otlp import (
    CHEAP_ROW,
    HARD_ROW,
    TRACE_ID,
    json_span,
    kv,
    openinference_span,
    otlp_json,
)


def _settings(**values: Any) -> Settings:
    return Settings(**values)


def _parse(router: FakeRouter, **settings: Any) -> ParsedTraces:
    request = encode_spans(router.spans())
    # The bytes on the wire, as the HTTP exporter sends them.
    return parse_request(decode_protobuf(request.SerializeToString()), _settings(**settings))


def _by_prompt(events: list[TrafficEvent], prompt: str) -> TrafficEvent:
    matches = [e for e in events if e.prompt_text() == prompt]
    assert len(matches) == 1, [e.prompt_text()[:40] for e in events]
    return matches[0]


@pytest.mark.parametrize("convention", CONVENTIONS)
def test_each_convention_maps_prompt_answer_route_and_segment(convention: str) -> None:
    router = FakeRouter(convention)
    cheap = router.handle(CHEAP_ROW, tenant="acme", user="u-7")
    hard = router.handle(HARD_ROW, tenant="globex", user="u-9")
    parsed = _parse(router)

    # Per request: server, route, database and LLM spans; only the LLM span is an event.
    assert parsed.rejected == []
    assert len(parsed.events) == 2
    assert parsed.skipped == 6
    for call in (cheap, hard):
        _check(_by_prompt(parsed.events, call.prompt), call)
    assert cheap.tier == "cheap" and hard.tier == "flagship"
    settings = _settings()
    assert is_cheap(_by_prompt(parsed.events, cheap.prompt), settings)
    assert not is_cheap(_by_prompt(parsed.events, hard.prompt), settings)


def _check(event: TrafficEvent, call: Call) -> None:
    assert event.event_id.startswith("otlp-") and len(event.event_id) == 5 + 32 + 1 + 16
    assert event.answer == call.answer
    assert event.route.tier == call.tier  # from the parent span's router.tier
    assert event.route.model == call.model
    assert event.route.score == pytest.approx(call.score)
    assert event.route.reason in {"score < 0.5", "hard query"}
    assert event.usage.prompt_tokens == call.input_tokens
    assert event.usage.completion_tokens == call.output_tokens
    assert event.attributes.tenant == call.tenant
    assert event.attributes.user == call.user
    assert event.attributes.metadata["service.name"] == "router-api"
    assert event.attributes.metadata["span_id"] in event.event_id
    assert event.status == "ok" and event.error is None and not event.refused
    assert event.latency_ms is not None and event.latency_ms >= 0
    assert event.ttft_ms is None or event.ttft_ms >= 0


def test_system_instructions_and_params_of_the_current_semconv() -> None:
    router = FakeRouter("semconv")
    call = router.handle(CHEAP_ROW)
    event = _parse(router).events[0]
    assert [m.role for m in event.request.messages] == ["system", "user"]
    assert event.request.messages[0].content == SYSTEM_PROMPT
    assert event.request.messages[1].content == call.prompt
    assert event.request.params == {"temperature": 0.0, "max_tokens": 512}
    assert event.ttft_ms == pytest.approx(42.0)  # gen_ai.response.time_to_first_chunk, seconds


@pytest.mark.parametrize("convention", ["openllmetry", "openinference"])
def test_ttft_comes_from_the_first_chunk_event(convention: str) -> None:
    router = FakeRouter(convention)
    router.handle(CHEAP_ROW)
    event = _parse(router).events[0]
    llm = next(s for s in router.spans() if s.name.startswith("chat "))
    expected = (llm.events[0].timestamp - llm.start_time) / 1e6
    assert event.ttft_ms == pytest.approx(expected)
    assert 0 < event.ttft_ms <= event.latency_ms


def test_openinference_invocation_parameters_lose_credentials() -> None:
    router = FakeRouter("openinference")
    router.handle(CHEAP_ROW)
    event = _parse(router).events[0]
    assert event.request.params == {"temperature": 0, "max_tokens": 512}
    assert "sk-must-not-be-stored" not in event.model_dump_json()


def test_openllmetry_keeps_the_system_message() -> None:
    router = FakeRouter("openllmetry")
    call = router.handle(CHEAP_ROW)
    event = _parse(router).events[0]
    assert [(m.role, m.content) for m in event.request.messages] == [
        ("system", SYSTEM_PROMPT),
        ("user", call.prompt),
    ]


def test_a_failed_call_is_an_error_event_with_the_exception() -> None:
    router = FakeRouter("semconv")
    router.fail()
    (event,) = _parse(router).events
    assert event.status == "error"
    assert event.error == "TimeoutError: upstream timed out after 30 s"
    assert event.answer is None


def test_without_a_tier_attribute_the_model_name_decides() -> None:
    router = FakeRouter("semconv")
    router.handle(CHEAP_ROW)
    router.handle(HARD_ROW)
    # Nothing names the tier: router.tier is not among the attributes read.
    settings = {"otlp_route_attributes": {"tier": "no.such.attribute"}}
    events = _parse(router, **settings).events
    assert sorted(e.route.tier for e in events) == sorted([CHEAP_MODEL, FLAGSHIP_MODEL])
    cheap_routes = _settings(cheap_routes=[CHEAP_MODEL, "small"])
    assert [is_cheap(e, cheap_routes) for e in events] == [
        e.route.model == CHEAP_MODEL for e in events
    ]
    # A model that matches no cheap route is not cheap.
    assert not any(is_cheap(e, _settings(cheap_routes=["cheap", "small"])) for e in events)


def test_route_and_segment_attributes_are_configurable() -> None:
    router = FakeRouter("semconv", resource_attributes={"deployment.environment": "prod-eu"})
    router.handle(CHEAP_ROW, tenant="acme")
    settings = {
        "otlp_route_attributes": {"tier": "router.reason", "score": "gen_ai.usage.input_tokens"},
        "otlp_segment_attributes": {
            "team": "deployment.environment",
            "metadata.tenant_from_span": "tenant.id",
        },
    }
    (event,) = _parse(router, **settings).events
    assert event.route.tier == "score < 0.5"
    assert event.route.score == event.usage.prompt_tokens
    assert event.attributes.team == "prod-eu"  # a resource attribute
    assert event.attributes.tenant is None
    assert event.attributes.metadata["tenant_from_span"] == "acme"


def test_attribute_maps_are_read_from_the_environment_as_json(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SHADOWGAP_OTLP_ROUTE_ATTRIBUTES", '{"tier": "x.tier,router.tier"}')
    monkeypatch.setenv("SHADOWGAP_OTLP_SEGMENT_ATTRIBUTES", '{"team": "team.id"}')
    settings = Settings()
    assert settings.otlp_route_attributes == {"tier": "x.tier,router.tier"}
    assert settings.otlp_segment_attributes == {"team": "team.id"}


def test_settings_refuse_unknown_targets() -> None:
    with pytest.raises(ValidationError, match="tier, score, reason, escalated"):
        _settings(otlp_route_attributes={"tire": "router.tier"})
    with pytest.raises(ValidationError, match="metadata.<key>"):
        _settings(otlp_segment_attributes={"tenantt": "tenant.id"})


# --- OTLP JSON, written to the specification ---------------------------------------------------


def test_otlp_json_with_hex_ids_string_int64_and_enum_ints() -> None:
    row = gsm8k_rows()[3]
    body = otlp_json(
        [openinference_span("00f067aa0ba902b7", row["prompt"], "#### 42")],
        resource={"service.name": "phoenix-app", "tenant.id": "initech"},
    )
    parsed = parse_request(decode_json(body), _settings(cheap_routes=["gpt-4o-mini"]))
    (event,) = parsed.events
    assert event.event_id == f"otlp-{TRACE_ID}-00f067aa0ba902b7"
    assert event.prompt_text() == row["prompt"]  # plain-text input.value
    assert event.answer == "#### 42"
    assert (event.usage.prompt_tokens, event.usage.completion_tokens) == (31, 12)
    assert event.timestamp.isoformat() == "2025-12-01T12:00:00+00:00"
    assert event.latency_ms == pytest.approx(1250.0)
    assert event.attributes.tenant == "initech"  # a resource attribute
    assert event.route.tier == "gpt-4o-mini"
    assert is_cheap(event, _settings(cheap_routes=["gpt-4o-mini"]))


def test_json_and_protobuf_of_the_same_request_give_the_same_events() -> None:
    body = otlp_json([openinference_span("00f067aa0ba902b7", "What is 2+2?", "4")])
    from_json = decode_json(body)
    from_protobuf = decode_protobuf(from_json.SerializeToString())
    settings = _settings()
    assert parse_request(from_json, settings) == parse_request(from_protobuf, settings)
    assert from_json.resource_spans[0].scope_spans[0].spans[0].span_id.hex() == "00f067aa0ba902b7"


def test_semconv_events_per_message_and_choice() -> None:
    events = [
        {"timeUnixNano": "1764590400100000000", "name": "gen_ai.system.message",
         "attributes": [kv("content", "Be brief.")]},
        {"timeUnixNano": "1764590400100000000", "name": "gen_ai.user.message",
         "attributes": [kv("content", "Capital of France?")]},
        {"timeUnixNano": "1764590401000000000", "name": "gen_ai.choice",
         "attributes": [kv("gen_ai.event.content", json.dumps(
             {"index": 0, "finish_reason": "content_filter", "message": {"content": "Paris"}}
         ))]},
    ]  # fmt: skip
    span = json_span(
        "1111111111111111",
        {"gen_ai.operation.name": "chat", "gen_ai.request.model": "claude-haiku"},
        events=events,
    )
    (event,) = parse_request(decode_json(otlp_json([span])), _settings()).events
    assert [(m.role, m.content) for m in event.request.messages] == [
        ("system", "Be brief."),
        ("user", "Capital of France?"),
    ]
    assert event.answer == "Paris"
    assert event.refused  # finish_reason content_filter


def test_inference_details_event_carries_the_messages() -> None:
    details = {
        "timeUnixNano": "1764590401000000000",
        "name": "gen_ai.client.inference.operation.details",
        "attributes": [
            kv("gen_ai.input.messages", json.dumps(
                [{"role": "user", "parts": [{"type": "text", "content": "Hi"}]}])),
            kv("gen_ai.output.messages", json.dumps(
                [{"role": "assistant", "parts": [{"type": "text", "content": "Hello"}],
                  "finish_reason": "stop"}])),
        ],
    }  # fmt: skip
    span = json_span(
        "2222222222222222",
        {"gen_ai.operation.name": "chat", "gen_ai.request.model": "gemini-flash"},
        events=[details],
    )
    (event,) = parse_request(decode_json(otlp_json([span])), _settings()).events
    assert event.prompt_text() == "Hi" and event.answer == "Hello"


def test_non_llm_spans_are_skipped_not_rejected() -> None:
    spans = [
        json_span("aaaaaaaaaaaaaaa1", {"http.request.method": "POST"}, name="POST /chat"),
        json_span("aaaaaaaaaaaaaaa2", {"db.system": "redis"}, name="GET"),
        json_span("aaaaaaaaaaaaaaa3", {"gen_ai.operation.name": "embeddings",
                                   "gen_ai.request.model": "text-embedding-3-small"}),
        json_span("aaaaaaaaaaaaaaa4", {"gen_ai.operation.name": "invoke_agent",
                                   "gen_ai.request.model": "gpt-4o"}),
        json_span("aaaaaaaaaaaaaaa5", {"openinference.span.kind": "CHAIN", "input.value": "hi"}),
        json_span("aaaaaaaaaaaaaaa6", {"llm.request.type": "embedding",
                                   "gen_ai.request.model": "ada"}),
    ]  # fmt: skip
    parsed = parse_request(decode_json(otlp_json(spans)), _settings())
    assert (parsed.events, parsed.rejected, parsed.skipped) == ([], [], 6)
    assert not parsed.response().HasField("partial_success")


def test_a_bad_llm_span_is_rejected_alone_with_its_reason() -> None:
    good = openinference_span("0000000000000001", "What is 2+2?", "4")
    no_prompt = json_span(
        "0000000000000002", {"gen_ai.operation.name": "chat", "gen_ai.request.model": "m"}
    )
    bad_tokens = openinference_span("0000000000000003", "Hi", "Hello")
    bad_tokens["attributes"].append(kv("gen_ai.usage.input_tokens", "many"))
    bad_score = openinference_span("0000000000000004", "Hi", "Hello", **{"router.score": "high"})
    parsed = parse_request(
        decode_json(otlp_json([good, no_prompt, bad_tokens, bad_score])), _settings()
    )
    assert [e.prompt_text() for e in parsed.events] == ["What is 2+2?"]
    # The span without a prompt is not refused: its content may come in OTLP log records
    # (shadowgap/ingest/otlp_join.py), so it waits for them and the answer says so.
    (waiting,) = parsed.waiting
    assert "0000000000000002" in waiting
    assert "no prompt recorded" in waiting
    assert "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=span_only" in waiting
    assert len(parsed.rejected) == 2
    assert "gen_ai.usage.input_tokens: must be a non-negative integer" in parsed.rejected[0]
    assert "router.score: must be a finite number" in parsed.rejected[1]
    partial = parsed.response().partial_success
    assert partial.rejected_spans == 2
    assert partial.error_message.startswith("2 LLM span(s) rejected: span 0000000000000003")


def test_malformed_json_messages_name_the_attribute() -> None:
    span = json_span(
        "0000000000000005",
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "m",
            "gen_ai.input.messages": "[{'role': 'user'",
        },
    )
    parsed = parse_request(decode_json(otlp_json([span])), _settings())
    assert parsed.events == []
    assert "gen_ai.input.messages: is not valid JSON" in parsed.rejected[0]


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        (b"{not json", "body", "not valid JSON"),
        (b"[]", "body", "must be an object"),
        (
            otlp_json([json_span("xyz", {})]),
            "resourceSpans[0].scopeSpans[0].spans[0].spanId",
            "16 hex characters",
        ),
        (
            json.dumps(
                {"resourceSpans": [{"scopeSpans": [{"spans": [{"startTimeUnixNano": "soon"}]}]}]}
            ).encode(),
            "body",
            "not OTLP JSON",
        ),
    ],
)
def test_bad_json_bodies_name_the_field(body: bytes, field: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message) as caught:
        decode_json(body)
    assert caught.value.field == field


def test_bad_protobuf_is_invalid_input() -> None:
    router = FakeRouter("semconv")
    router.handle(CHEAP_ROW)
    wire = encode_spans(router.spans()).SerializeToString()
    with pytest.raises(InvalidInput, match="not a protobuf-encoded OTLP ExportTraceServiceRequest"):
        decode_protobuf(wire[: len(wire) // 2])
    assert decode_protobuf(b"") == ExportTraceServiceRequest()  # an empty export is valid


def test_a_huge_bad_value_is_quoted_briefly_in_the_reason() -> None:
    huge = openinference_span("0000000000000008", "Hi", "Hello", **{"router.score": "x" * 10_000})
    parsed = parse_request(decode_json(otlp_json([huge])), _settings())
    assert parsed.events == []
    assert "router.score: must be a finite number, got 'xxx" in parsed.rejected[0]
    assert len(parsed.rejected[0]) < 300  # the value is quoted, not copied


def test_openllmetry_multimodal_content_stays_a_list_of_parts() -> None:
    parts = [
        {"type": "text", "text": "What is in this image?"},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
    ]
    span = json_span(
        "0000000000000010",
        {
            "llm.request.type": "chat",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.prompt.0.role": "user",
            "gen_ai.prompt.0.content": json.dumps(parts),
            "gen_ai.completion.0.content": "A cat.",
        },
    )
    (event,) = parse_request(decode_json(otlp_json([span])), _settings()).events
    assert event.request.messages[0].content == parts
    assert event.prompt_text() == "What is in this image?"
    assert event.answer == "A cat."
