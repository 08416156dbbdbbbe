"""OTLP test data: GSM8K rows the toy router sends each way, and OTLP JSON written to the
specification by hand (spans, attributes, documents)."""

from __future__ import annotations

import json
from typing import Any

from tests.support.factories import gsm8k_rows

# Rows chosen so that the toy router sends one cheap and one to the flagship.
CHEAP_ROW = next(i for i, row in enumerate(gsm8k_rows()) if len(row["prompt"]) < 200)
HARD_ROW = next(i for i, row in enumerate(gsm8k_rows()) if len(row["prompt"]) >= 200)
TRACE_ID = "5b8efff798038103d269b633813fc60c"


def kv(key: str, value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        wrapped: dict[str, Any] = {"boolValue": value}
    elif isinstance(value, int):
        wrapped = {"intValue": str(value)}  # int64 as a decimal string
    elif isinstance(value, float):
        wrapped = {"doubleValue": value}
    elif isinstance(value, list):
        wrapped = {"arrayValue": {"values": [kv("", v)["value"] for v in value]}}
    else:
        wrapped = {"stringValue": value}
    return {"key": key, "value": wrapped}


def json_span(
    span_id: str,
    attributes: dict[str, Any],
    *,
    parent: str = "",
    name: str = "span",
    events: list[dict[str, Any]] | None = None,
    status: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "traceId": TRACE_ID,
        "spanId": span_id,
        "parentSpanId": parent,
        "name": name,
        "kind": 3,  # SPAN_KIND_CLIENT, as an integer
        "startTimeUnixNano": "1764590400000000000",
        "endTimeUnixNano": "1764590401250000000",
        "attributes": [kv(k, v) for k, v in attributes.items()],
        "events": events or [],
        "status": status or {"code": 1},
    }


def otlp_json(spans: list[dict[str, Any]], resource: dict[str, Any] | None = None) -> bytes:
    document = {
        "resourceSpans": [
            {
                "resource": {"attributes": [kv(k, v) for k, v in (resource or {}).items()]},
                "scopeSpans": [{"scope": {"name": "handwritten", "version": "1"}, "spans": spans}],
                "schemaUrl": "https://opentelemetry.io/schemas/1.26.0",
            }
        ]
    }
    return json.dumps(document).encode()


def openinference_span(span_id: str, prompt: str, answer: str, **extra: Any) -> dict[str, Any]:
    return json_span(
        span_id,
        {
            "openinference.span.kind": "LLM",
            "llm.model_name": "gpt-4o-mini",
            "input.value": prompt,
            "input.mime_type": "text/plain",
            "output.value": answer,
            "llm.token_count.prompt": 31,
            "llm.token_count.completion": 12,
            **extra,
        },
        name="ChatCompletion",
    )


def json_log_record(
    span_id: str, event_name: str, attributes: dict[str, Any], body: Any = None
) -> dict[str, Any]:
    """An OTLP JSON log record about a span of TRACE_ID: an OTel event (``eventName``)."""
    record: dict[str, Any] = {
        "timeUnixNano": "1764590401000000000",
        "eventName": event_name,
        "traceId": TRACE_ID,
        "spanId": span_id,
        "attributes": [kv(k, v) for k, v in attributes.items()],
    }
    if body is not None:
        record["body"] = kv("", body)["value"]
    return record


def otlp_logs_json(records: list[dict[str, Any]]) -> bytes:
    document = {
        "resourceLogs": [
            {
                "resource": {"attributes": []},
                "scopeLogs": [{"scope": {"name": "handwritten"}, "logRecords": records}],
            }
        ]
    }
    return json.dumps(document).encode()
