"""LiteLLM generic-API payloads -> TrafficEvents, against bodies captured from a real LiteLLM.

The fixtures in tests/fixtures/litellm/ were written by capture.py (see its docstring): eight
mocked calls through LiteLLM's complexity auto-router, a plain model group, and bare SDK calls,
two of them failures, received in each of the generic logger's three log formats.
"""

from __future__ import annotations

import copy
import json
import re
from datetime import UTC, datetime
from typing import Any

import pytest

from shadowgap.errors import InvalidInput
from shadowgap.ingest.litellm import litellm_to_event, parse_litellm
from shadowgap.schemas import TrafficEvent
from tests.support.settings import FIXTURES_DIR

FIXTURES = FIXTURES_DIR / "litellm"
# Independent of the module's own filter, so the test does not grade the code with itself.
# (api_key_alias is the schema's own field: a key's human name, not the key.)
SECRET_LOOKING = re.compile(
    r"api_?key(?!_alias)|secret|password|authorization|token$|hash", re.IGNORECASE
)


def _raw(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def _array() -> list[dict[str, Any]]:
    return json.loads(_raw("json_array.json"))


def _by_prompt(events: list[TrafficEvent], prefix: str) -> TrafficEvent:
    matches = [e for e in events if e.prompt_text().startswith(prefix)]
    assert len(matches) == 1, [e.prompt_text() for e in events]
    return matches[0]


@pytest.fixture(scope="module")
def events() -> list[TrafficEvent]:
    return parse_litellm(_raw("json_array.json"))


def _shape(event: TrafficEvent) -> tuple[Any, ...]:
    """What must not depend on the log format (ids and clocks differ between captures)."""
    return (
        event.prompt_text(),
        event.route.tier,
        event.route.model,
        event.route.reason,
        event.status,
        event.escalated,
        event.answer,
        event.usage.prompt_tokens,
        event.attributes.tenant,
        tuple(event.attributes.tags),
    )


def test_all_three_log_formats_parse_to_the_same_events(events: list[TrafficEvent]) -> None:
    ndjson = parse_litellm(_raw("ndjson.ndjson"))
    singles = [
        e
        for path in sorted(FIXTURES.glob("single_*.json"))
        for e in parse_litellm(path.read_bytes())
    ]

    assert len(events) == len(ndjson) == len(singles) == 8
    assert [_shape(e) for e in events] == [_shape(e) for e in ndjson]
    # `single` POSTs race each other, so their arrival order is not the call order.
    assert sorted(map(_shape, events), key=repr) == sorted(map(_shape, singles), key=repr)


def test_one_capture_gives_identical_events_as_array_ndjson_or_single_objects(
    events: list[TrafficEvent],
) -> None:
    payloads = _array()
    as_ndjson = "\n".join(json.dumps(p) for p in payloads).encode()
    one_by_one = [e for p in payloads for e in parse_litellm(json.dumps(p).encode())]

    assert parse_litellm(as_ndjson) == events
    assert one_by_one == events
    assert [e.event_id for e in events] == [p["id"] for p in payloads]


def test_complexity_router_decision_sets_tier_model_score_and_reason(
    events: list[TrafficEvent],
) -> None:
    event = _by_prompt(events, "What is the capital of Australia")

    # tier_label is the operator's name for LiteLLM's SIMPLE tier; the raw tier is kept too.
    assert event.route.tier == "cheap"
    assert event.route.model == "openai/gpt-4o-mini"
    assert event.route.score == pytest.approx(-0.15)
    assert event.route.reason == "heuristic_scorer"
    assert event.escalated is False
    meta = event.attributes.metadata
    assert meta["router_tier"] == "SIMPLE"
    assert meta["routed_model"] == "cheap"
    assert meta["router"] == "smart-router"
    assert meta["model_group"] == "smart-router"


def test_escalated_decision_marks_the_event_escalated(events: list[TrafficEvent]) -> None:
    escalated = _by_prompt(events, "What is the capital of Peru")
    complex_ = _by_prompt(events, "Think step by step")

    assert escalated.escalated is True
    assert escalated.route.tier == "standard"
    assert escalated.route.model == "openai/gpt-4o"
    assert complex_.escalated is False
    assert complex_.route.tier == "flagship"
    assert complex_.route.score == pytest.approx(0.475)


def test_external_router_decision_in_request_metadata(events: list[TrafficEvent]) -> None:
    event = _by_prompt(events, "List three prime numbers")
    payload = next(p for p in _array() if p["id"] == event.event_id)

    assert payload["model_group"] == ""
    assert payload["model"] == "gpt-4o-mini"
    assert event.route.tier == "cheap"
    # The router's own statement of what it called wins over LiteLLM's provider-less name.
    assert event.route.model == "openai/gpt-4o-mini"
    assert event.route.score == pytest.approx(0.31)
    assert event.route.reason == "in-house classifier: short factual question"
    assert event.escalated is False
    assert "model_group" not in event.attributes.metadata


def test_empty_model_group_without_decision_falls_back_to_the_model(
    events: list[TrafficEvent],
) -> None:
    event = _by_prompt(events, "2 + 2")

    assert event.route.tier == "gpt-4o-mini"
    assert event.route.model == "gpt-4o-mini"
    assert event.route.score is None and event.route.reason is None
    assert event.attributes.tenant is None and event.attributes.tags == []


def test_model_group_is_the_tier_without_a_decision_and_streaming_gives_ttft(
    events: list[TrafficEvent],
) -> None:
    event = _by_prompt(events, "Say hello in French")
    payload = next(p for p in _array() if p["id"] == event.event_id)

    assert event.route.tier == "cheap"
    assert event.route.model == "openai/gpt-4o-mini"
    assert event.answer == "Bonjour !"
    assert event.ttft_ms is not None and event.latency_ms is not None
    assert 0 < event.ttft_ms < event.latency_ms
    expected_ttft = (payload["completionStartTime"] - payload["startTime"]) * 1000
    assert event.ttft_ms == pytest.approx(expected_ttft)
    assert "stream" not in event.request.params


def test_request_answer_timing_usage_and_cost(events: list[TrafficEvent]) -> None:
    event = _by_prompt(events, "What is the capital of Australia")
    payload = next(p for p in _array() if p["id"] == event.event_id)

    assert event.timestamp == datetime.fromtimestamp(payload["startTime"], UTC)
    assert event.timestamp.tzinfo is not None
    assert [(m.role, m.content) for m in event.request.messages] == [
        ("system", "You are a terse assistant."),
        ("user", "What is the capital of Australia?"),
    ]
    assert event.request.params["temperature"] == 0.2
    assert event.answer == "Canberra."
    assert event.latency_ms == pytest.approx((payload["endTime"] - payload["startTime"]) * 1000)
    assert (event.usage.prompt_tokens, event.usage.completion_tokens) == (10, 20)
    assert event.cost_usd == pytest.approx(payload["response_cost"])
    assert event.status == "ok" and event.error is None and event.refused is False


def test_segment_attributes_from_key_metadata(events: list[TrafficEvent]) -> None:
    attrs = _by_prompt(events, "What is the capital of Australia").attributes

    assert attrs.tenant == "acme-enterprise"
    assert attrs.team == "acme-enterprise"
    assert attrs.user == "end-user-42"
    assert attrs.api_key_alias == "billing-batch-key"
    assert attrs.tags == ["bulk", "scripted"]
    assert attrs.metadata["team_id"] == "team-7f3a"
    assert attrs.metadata["org_id"] == "org-acme"
    assert attrs.metadata["source"] == "litellm"

    team_id_only = _by_prompt(events, "Say hello in French").attributes
    assert team_id_only.tenant == team_id_only.team == "team-0002"
    assert team_id_only.tags == ["chat"]


def test_failures_map_to_error_events(events: list[TrafficEvent]) -> None:
    routed = _by_prompt(events, "What is a ticket summary")
    bare = _by_prompt(events, "Summarise this ticket")

    for event in (routed, bare):
        assert event.status == "error"
        assert event.answer is None
        assert (event.usage.prompt_tokens, event.usage.completion_tokens) == (0, 0)
        assert event.latency_ms is not None
    assert routed.error is not None and "upstream exploded: connection reset" in routed.error
    assert routed.route.tier == "cheap" and routed.route.reason == "heuristic_scorer"
    assert routed.attributes.tenant == "acme-enterprise"
    assert routed.attributes.metadata["error_class"] == "InternalServerError"
    assert bare.error == "litellm.RateLimitError: this is a mock rate limit error"
    assert bare.attributes.metadata["error_code"] == "429"
    assert bare.route.tier == "gpt-4o-mini"


def test_failure_error_falls_back_to_error_information() -> None:
    payload = next(p for p in _array() if p["status"] == "failure")
    payload["error_str"] = None

    event = litellm_to_event(payload, 0)

    assert event.error == payload["error_information"]["error_message"]


def _keys(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [k for k, v in value.items() for k in [k, *_keys(v)]]
    if isinstance(value, list):
        return [k for v in value for k in _keys(v)]
    return []


def test_no_secret_looking_keys_or_key_hashes_survive(events: list[TrafficEvent]) -> None:
    payloads = _array()
    key_hash = payloads[0]["metadata"]["user_api_key_hash"]
    assert key_hash  # the capture carries a (fake) virtual-key hash, as a proxy would

    payload = copy.deepcopy(payloads[0])
    payload["metadata"]["user_api_key_auth_metadata"] = {"owner": "sk-live-auth-metadata"}
    payload["metadata"]["requester_custom_headers"] = {"x-api-key": "sk-live-custom-header"}
    payload["metadata"]["spend_logs_metadata"] = {"token": "sk-live-spend-logs"}
    payload["model_parameters"]["api_key"] = "sk-live-param"
    payload["model_parameters"]["extra_body"] = {"Authorization": "Bearer sk-live-nested"}
    stored = [e.model_dump(mode="json") for e in [*events, litellm_to_event(payload, 0)]]

    text = json.dumps(stored)
    assert key_hash not in text
    assert "sk-live" not in text
    assert [k for k in _keys(stored) if SECRET_LOOKING.search(k)] == []


def test_non_text_calls_and_prompt_less_failures_are_skipped_not_rejected() -> None:
    payloads = _array()
    embedding = copy.deepcopy(payloads[0])
    embedding.update(id="emb-1", call_type="aembedding", messages=["embed me"], response={})

    no_prompt = copy.deepcopy(next(p for p in payloads if p["status"] == "failure"))
    no_prompt.update(id="auth-fail-1", messages=[])
    body = json.dumps([payloads[0], embedding, no_prompt, payloads[1]]).encode()

    events = parse_litellm(body)

    assert [e.event_id for e in events] == [payloads[0]["id"], payloads[1]["id"]]
    # Called on its own, the prompt-less failure is still an error that names the field.
    with pytest.raises(InvalidInput) as caught:
        litellm_to_event(no_prompt, 2)
    assert caught.value.field == "messages"


def test_other_request_and_response_shapes() -> None:
    base = _array()[0]

    prompt = copy.deepcopy(base)
    prompt.update(messages="Complete this", response={"choices": [{"text": " sentence."}]})
    event = litellm_to_event(prompt, 0)
    assert [(m.role, m.content) for m in event.request.messages] == [("user", "Complete this")]
    assert event.answer == " sentence."

    tools = copy.deepcopy(base)
    tools["messages"] = [
        {"role": "user", "content": "weather?", "name": "alice"},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "c1", "type": "function"}]},
        {"role": "tool", "content": "sunny", "tool_call_id": "c1"},
    ]
    tools["response"] = {"content": [{"type": "text", "text": "It is sunny."}]}
    event = litellm_to_event(tools, 0)
    assert [m.role for m in event.request.messages] == ["user", "assistant", "tool"]
    assert event.answer == "It is sunny."

    refused = copy.deepcopy(base)
    refused["response"]["choices"][0]["finish_reason"] = "content_filter"
    assert litellm_to_event(refused, 0).refused is True


def _batch_with(bad: dict[str, Any]) -> bytes:
    payloads = _array()
    return json.dumps([payloads[0], payloads[1], bad]).encode()


def test_missing_id_names_the_field_and_item() -> None:
    bad = _array()[2]
    del bad["id"]

    with pytest.raises(InvalidInput) as caught:
        parse_litellm(_batch_with(bad))

    assert caught.value.field == "id"
    assert caught.value.item == 2
    assert caught.value.detail == {"field": "id", "item": 2}
    assert "item 2" in caught.value.message


def test_non_numeric_start_time_names_the_field() -> None:
    bad = _array()[2]
    bad["startTime"] = "yesterday"

    with pytest.raises(InvalidInput) as caught:
        parse_litellm(_batch_with(bad))

    assert (caught.value.field, caught.value.item) == ("startTime", 2)
    assert "number" in caught.value.message


def test_legacy_v1_payload_gets_a_hint() -> None:
    bad = _array()[0]
    bad.update(startTime="2026-11-27 23:33:25.185324", modelParameters="{}")

    with pytest.raises(InvalidInput) as caught:
        litellm_to_event(bad, 0)

    assert caught.value.field == "startTime"
    assert "generic_api_use_v1" in caught.value.message


def test_non_json_ndjson_line_names_the_line() -> None:
    lines = [json.dumps(p) for p in _array()[:2]]
    body = "\n".join([lines[0], lines[1], "{not json"]).encode()

    with pytest.raises(InvalidInput) as caught:
        parse_litellm(body)

    assert "line 3" in caught.value.message
    assert caught.value.item == 2


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (
            lambda p: p["metadata"]["routing_decision"].update(score="high"),
            "metadata.routing_decision.score",
        ),
        (
            lambda p: p["metadata"]["routing_decision"].update(tier=7),
            "metadata.routing_decision.tier",
        ),
        (lambda p: p.update(messages=[]), "messages"),
        (lambda p: p.update(messages=[{"content": "no role"}]), "messages[0].role"),
        (lambda p: p.update(endTime=p["startTime"] - 1), "endTime"),
        (lambda p: p.update(startTime=1e20), "startTime"),
        (lambda p: p.update(startTime=True), "startTime"),
        (lambda p: p.update(prompt_tokens=-3), "prompt_tokens"),
        (lambda p: p.update(response_cost=float("nan")), "response_cost"),
        (lambda p: p.update(status="maybe"), "status"),
        (lambda p: p.update(request_tags="bulk"), "request_tags"),
        (lambda p: p.update(metadata="team=acme"), "metadata"),
        (lambda p: p.update(model="", model_group="", metadata={}), "model"),
    ],
)
def test_bad_fields_are_named_by_their_payload_path(mutate: Any, field: str) -> None:
    payload = _array()[0]
    mutate(payload)

    with pytest.raises(InvalidInput) as caught:
        litellm_to_event(payload, 5)

    assert (caught.value.field, caught.value.item) == (field, 5)


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (b"", "empty"),
        (b"   \n", "empty"),
        (b"[1, 2]", "JSON object"),
        (b'[{"id": "a"},', "not valid JSON"),
    ],
)
def test_unusable_bodies(body: bytes, needle: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_litellm(body)

    assert needle in caught.value.message
