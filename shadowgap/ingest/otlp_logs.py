"""OpenTelemetry logs (OTLP/HTTP) that carry an LLM span's content (``POST /v1/logs``).

What arrives: an ``ExportLogsServiceRequest``, binary protobuf or OTLP JSON (hex trace and span
ids, as for traces). Which records are kept: GenAI events about a span - a record with a trace
and span id whose event name (the ``event_name`` field, or the older ``event.name`` attribute)
starts with ``gen_ai.``: the ``gen_ai.client.inference.operation.details`` record of
``opentelemetry-instrumentation-openai-v2`` (``event_only`` / ``span_and_event``) and of
OpenLIT, and the older per-message events (``gen_ai.user.message``, ..., ``gen_ai.choice``). A
record becomes an event of its span: its attributes, completed by its body when the body is a
map (the older events put ``content`` / ``message`` there). Every other record (application
logs, records without a span) is skipped and counted, never refused.

The records are joined to their span by shadowgap/ingest/otlp_join.py, in whichever order the
two arrive; a span completed by them is mapped exactly as if the records had been its events.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import orjson
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)

from shadowgap.config import Settings
from shadowgap.errors import InvalidInput
from shadowgap.ingest import otlp_join
from shadowgap.ingest.genai import SpanEvent, SpanRejected
from shadowgap.ingest.otlp import (
    Encoding,
    _convert_ids,
    _items,
    any_value,
    attributes,
    with_records,
)
from shadowgap.schemas import TrafficEvent

_GENAI_PREFIX = "gen_ai."
_MAX_REASONS = 5


@dataclass
class ParsedLogs:
    events: list[TrafficEvent] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    skipped: int = 0
    waiting: int = 0  # content records held for a span that has not come yet

    def response(self) -> ExportLogsServiceResponse:
        response = ExportLogsServiceResponse()
        if self.rejected:
            response.partial_success.rejected_log_records = len(self.rejected)
            response.partial_success.error_message = (
                f"{len(self.rejected)} joined LLM span(s) rejected: "
                + "; ".join(self.rejected[:_MAX_REASONS])
            )
        return response


def decode_request(body: bytes, encoding: Encoding) -> ExportLogsServiceRequest:
    if encoding == "protobuf":
        try:
            return ExportLogsServiceRequest.FromString(body)
        except DecodeError as exc:
            raise InvalidInput(
                f"the body is not a protobuf-encoded OTLP ExportLogsServiceRequest: {exc}",
                field="body",
            ) from exc
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"the body is not valid JSON: {exc}", field="body") from exc
    if not isinstance(document, dict):
        raise InvalidInput("an OTLP JSON body must be an object", field="body")
    for r, resource_logs in enumerate(_items(document, "resourceLogs", "resource_logs")):
        for s, scope_logs in enumerate(_items(resource_logs, "scopeLogs", "scope_logs")):
            for i, record in enumerate(_items(scope_logs, "logRecords", "log_records")):
                _convert_ids(record, f"resourceLogs[{r}].scopeLogs[{s}].logRecords[{i}]")
    try:
        return json_format.ParseDict(
            document, ExportLogsServiceRequest(), ignore_unknown_fields=True
        )
    except json_format.ParseError as exc:
        raise InvalidInput(f"the body is not OTLP JSON: {exc}", field="body") from exc


def content_records(
    request: ExportLogsServiceRequest,
) -> tuple[dict[otlp_join.Key, list[SpanEvent]], int]:
    """The GenAI records of the request as span events, grouped by span; and how many other
    records were skipped."""
    grouped: dict[otlp_join.Key, list[SpanEvent]] = {}
    skipped = 0
    for resource_logs in request.resource_logs:
        for scope_logs in resource_logs.scope_logs:
            for record in scope_logs.log_records:
                attrs = attributes(record.attributes)
                name = getattr(record, "event_name", "") or str(attrs.get("event.name") or "")
                trace_id, span_id = record.trace_id.hex(), record.span_id.hex()
                if (
                    not name.startswith(_GENAI_PREFIX)
                    or len(trace_id) != 32
                    or len(span_id) != 16
                    or trace_id == "0" * 32
                ):
                    skipped += 1
                    continue
                body = any_value(record.body)
                if isinstance(body, dict):
                    attrs = {**attrs, **body}
                elif body is not None and body != "":
                    attrs.setdefault("gen_ai.event.content", body)
                time = record.time_unix_nano or record.observed_time_unix_nano
                grouped.setdefault((trace_id, span_id), []).append(SpanEvent(name, time, attrs))
    return grouped, skipped


def parse_request(request: ExportLogsServiceRequest, settings: Settings) -> ParsedLogs:
    """Join each span's content records to it: the events of the spans completed now."""
    parsed = ParsedLogs()
    grouped, parsed.skipped = content_records(request)
    for key, records in grouped.items():
        waiting = otlp_join.JOINER.records(key, records)
        if waiting is None:
            parsed.waiting += 1
            continue
        try:
            parsed.events.append(with_records(waiting.span, waiting.ancestors, records, settings))
        except SpanRejected as exc:
            parsed.rejected.append(f"span {key[1]}: {exc}")
    return parsed
