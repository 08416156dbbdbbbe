"""OpenTelemetry traces (OTLP/HTTP) -> native TrafficEvents (``POST /v1/traces``).

What arrives: an ``ExportTraceServiceRequest`` (opentelemetry-proto), from an SDK's OTLP/HTTP
exporter or a Collector's ``otlphttp`` exporter, as binary protobuf or as OTLP JSON. OTLP JSON is
protobuf's JSON mapping with OTLP's own rules, handled in :func:`decode_json`: trace and span ids
are hex (not base64), 64-bit integers may be strings or numbers, enums are integers, and unknown
fields are ignored.

Which spans become events: LLM calls (see :func:`shadowgap.ingest.genai.is_llm_call`). Everything
else a Collector forwards (HTTP, database, agent and tool spans, embeddings) is skipped and
counted, never refused. An LLM span that cannot become an event (no prompt recorded, a
malformed attribute) is refused on its own: :class:`ParsedTraces` carries its reason for the
response's ``partial_success``, and the other spans are stored.

Mapping (details of the prompt, answer and token attributes in shadowgap/ingest/genai.py):

- event_id <- ``otlp-<trace id>-<span id>`` (hex), so a redelivered span is stored once;
- timestamp <- start time; latency_ms <- end - start; ttft_ms <-
  ``gen_ai.response.time_to_first_chunk``, else the first streamed-chunk event;
- status <- "error" when the span status is ERROR, error <- the status message, else the
  ``exception`` event, else ``error.type``;
- route.tier / score / reason / escalated <- the attributes named by
  ``SHADOWGAP_OTLP_ROUTE_ATTRIBUTES`` (defaults ``router.tier``, ``router.score``,
  ``router.reason``, ``router.escalated``), looked up on the span, then on its ancestors within
  the same export request, nearest first. Without a tier, the requested model name is the tier,
  so the span is cheap exactly when that name (or the served model's) is in
  ``SHADOWGAP_CHEAP_ROUTES``;
- route.model <- the served model (``gen_ai.response.model``), else the requested one;
- attributes <- ``SHADOWGAP_OTLP_SEGMENT_ATTRIBUTES`` (defaults: tenant <- ``tenant.id``,
  user <- ``enduser.id`` or ``user.id``, metadata.service.name <- ``service.name``), looked up on
  the span, its ancestors, then the resource; metadata also keeps the trace and span ids, the
  provider and the span name.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import orjson
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Status
from pydantic import ValidationError

from shadowgap.config import Settings
from shadowgap.errors import InvalidInput
from shadowgap.ingest import genai, otlp_join
from shadowgap.ingest.body import field_path, replace_nul
from shadowgap.ingest.genai import SpanEvent, SpanRejected
from shadowgap.schemas import TrafficEvent

Encoding = Literal["protobuf", "json"]

# The latest start time taken, past the clock (senders' clocks drift).
MAX_FUTURE = timedelta(days=1)
# A span tree deeper than this within one request is not a real trace (or has a cycle).
_MAX_ANCESTORS = 64
# partial_success.error_message lists this many reasons; the count covers all of them.
_MAX_REASONS = 5
# Native limits (shadowgap.schemas): identifiers are cut to fit rather than refused.
_TIER_MAX = 128
_ATTRIBUTE_MAX = 256
_ERROR_MAX = 10_000
_REASON_MAX = 2000
_HEX = re.compile(r"^[0-9a-fA-F]*$")


@dataclass
class Span:
    """One span, decoded to plain values, with where it sat in the request."""

    trace_id: str
    span_id: str
    parent_span_id: str
    name: str
    start_unix_nano: int
    end_unix_nano: int
    attributes: dict[str, Any]
    events: list[SpanEvent]
    status_error: bool
    status_message: str
    resource: dict[str, Any]
    position: str


@dataclass
class ParsedTraces:
    events: list[TrafficEvent] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    skipped: int = 0
    # LLM spans without a prompt, waiting for the log records that carry it (otlp_join).
    waiting: list[str] = field(default_factory=list)

    def response(self) -> ExportTraceServiceResponse:
        """OTLP's answer: empty when every span was taken, else the partial success (a
        warning with ``rejected_spans`` 0 when spans only wait for their log records)."""
        response = ExportTraceServiceResponse()
        if self.waiting and not self.rejected:
            wait = otlp_join.JOINER.wait_seconds
            response.partial_success.error_message = (
                f"{len(self.waiting)} LLM span(s) without a prompt wait {wait:g} s for their "
                f"OTLP log records (/v1/logs), then are dropped: {self.waiting[0]}"
            )
        if self.rejected:
            shown = "; ".join(self.rejected[:_MAX_REASONS])
            more = len(self.rejected) - _MAX_REASONS
            response.partial_success.rejected_spans = len(self.rejected)
            response.partial_success.error_message = (
                f"{len(self.rejected)} LLM span(s) rejected: {shown}"
                + (f"; and {more} more" if more > 0 else "")
            )
        return response


# --- decoding ----------------------------------------------------------------------------------


def decode_request(body: bytes, encoding: Encoding) -> ExportTraceServiceRequest:
    return decode_protobuf(body) if encoding == "protobuf" else decode_json(body)


def decode_protobuf(body: bytes) -> ExportTraceServiceRequest:
    try:
        return ExportTraceServiceRequest.FromString(body)
    except DecodeError as exc:
        raise InvalidInput(
            f"the body is not a protobuf-encoded OTLP ExportTraceServiceRequest: {exc}",
            field="body",
        ) from exc


def decode_json(body: bytes) -> ExportTraceServiceRequest:
    """OTLP JSON: protobuf's JSON mapping, with hex trace and span ids."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"the body is not valid JSON: {exc}", field="body") from exc
    if not isinstance(document, dict):
        raise InvalidInput("an OTLP JSON body must be an object", field="body")
    _hex_ids_to_base64(document)
    try:
        return json_format.ParseDict(
            document, ExportTraceServiceRequest(), ignore_unknown_fields=True
        )
    except json_format.ParseError as exc:
        raise InvalidInput(f"the body is not OTLP JSON: {exc}", field="body") from exc
    finally:
        _release(document)


def _release(document: dict[str, Any]) -> None:
    """Free a decoded document span by span. Dropped whole, megabytes of JSON are freed in
    one C call that holds the GIL for a tenth of a second or more (the event loop waits);
    popped one span at a time, other threads run in between."""
    for resource_spans in _items(document, "resourceSpans", "resource_spans"):
        for scope_spans in _items(resource_spans, "scopeSpans", "scope_spans"):
            spans = _items(scope_spans, "spans")
            while spans:
                spans.pop()


def _hex_ids_to_base64(document: dict[str, Any]) -> None:
    """Rewrite OTLP JSON's hex ids into the base64 that protobuf's JSON parser expects."""
    for r, resource_spans in enumerate(_items(document, "resourceSpans", "resource_spans")):
        for s, scope_spans in enumerate(_items(resource_spans, "scopeSpans", "scope_spans")):
            for i, span in enumerate(_items(scope_spans, "spans")):
                where = f"resourceSpans[{r}].scopeSpans[{s}].spans[{i}]"
                _convert_ids(span, where)
                for k, link in enumerate(_items(span, "links")):
                    _convert_ids(link, f"{where}.links[{k}]")


def _items(container: Any, *names: str) -> list[Any]:
    if not isinstance(container, dict):
        return []
    for name in names:
        value = container.get(name)
        if isinstance(value, list):
            return value
    return []


_ID_LENGTHS = {
    "traceId": 16,
    "trace_id": 16,
    "spanId": 8,
    "span_id": 8,
    "parentSpanId": 8,
    "parent_span_id": 8,
}


def _convert_ids(item: Any, where: str) -> None:
    if not isinstance(item, dict):
        return
    for name, size in _ID_LENGTHS.items():
        value = item.get(name)
        if value is None or value == "":
            continue
        if not isinstance(value, str):
            raise InvalidInput(f"{where}.{name} must be a hex string", field=f"{where}.{name}")
        item[name] = base64.b64encode(_id_bytes(value, size, f"{where}.{name}")).decode()


def _id_bytes(value: str, size: int, path: str) -> bytes:
    if len(value) == 2 * size and _HEX.match(value):
        return bytes.fromhex(value)
    # Some exporters send protobuf's plain JSON mapping (base64 ids): accept it too.
    try:
        raw = base64.b64decode(value, validate=True)
    except binascii.Error:
        raw = b""
    if len(raw) == size:
        return raw
    raise InvalidInput(
        f"{path} must be {2 * size} hex characters (OTLP JSON encodes ids as hex), got {value!r}",
        field=path,
    )


# --- spans -------------------------------------------------------------------------------------


def any_value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [any_value(item) for item in value.array_value.values]
    if kind == "kvlist_value":
        return attributes(value.kvlist_value.values)
    if kind == "bytes_value":
        return value.bytes_value.hex()
    return getattr(value, kind)


def attributes(pairs: Any) -> dict[str, Any]:
    """OTLP KeyValue list -> dict; a repeated key keeps its last value."""
    result: dict[str, Any] = {}
    pair: KeyValue
    for pair in pairs:
        result[pair.key] = any_value(pair.value)
    return result


def spans_of(request: ExportTraceServiceRequest) -> list[Span]:
    spans = []
    for r, resource_spans in enumerate(request.resource_spans):
        resource = attributes(resource_spans.resource.attributes)
        for s, scope_spans in enumerate(resource_spans.scope_spans):
            for i, span in enumerate(scope_spans.spans):
                spans.append(
                    Span(
                        trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(),
                        parent_span_id=span.parent_span_id.hex(),
                        name=span.name,
                        start_unix_nano=span.start_time_unix_nano,
                        end_unix_nano=span.end_time_unix_nano,
                        attributes=attributes(span.attributes),
                        events=[
                            SpanEvent(e.name, e.time_unix_nano, attributes(e.attributes))
                            for e in span.events
                        ],
                        status_error=span.status.code == Status.STATUS_CODE_ERROR,
                        status_message=span.status.message,
                        resource=resource,
                        position=f"resourceSpans[{r}].scopeSpans[{s}].spans[{i}]",
                    )
                )
    return spans


def parse_request(request: ExportTraceServiceRequest, settings: Settings) -> ParsedTraces:
    """Every LLM span of an export request as an event; other spans skipped, bad ones refused."""
    spans = spans_of(request)
    by_id = {(span.trace_id, span.span_id): span for span in spans}
    parsed = ParsedTraces()
    for span in spans:
        if not genai.is_llm_call(span.attributes):
            parsed.skipped += 1
            continue
        ancestors = _ancestors(span, by_id)
        key = (span.trace_id, span.span_id)
        # Log records that came first carry its content, or complete it (otlp_join).
        span.events = [*span.events, *otlp_join.JOINER.take_records(key)]
        try:
            parsed.events.append(span_to_event(span, ancestors, settings))
            otlp_join.JOINER.span_mapped(key)
        except NoPrompt as exc:
            # Its content may still come in log records: it waits for them.
            otlp_join.JOINER.wait_for_records(key, span, ancestors, str(exc))
            parsed.waiting.append(f"span {span.span_id} ({span.position}): {exc}")
        except SpanRejected as exc:
            parsed.rejected.append(f"span {span.span_id or '?'} ({span.position}): {exc}")
    by_id.clear()
    while spans:  # one at a time, as _release does
        spans.pop()
    return parsed


def _ancestors(span: Span, by_id: dict[tuple[str, str], Span]) -> list[Span]:
    chain: list[Span] = []
    seen = {span.span_id}
    parent_id = span.parent_span_id
    while parent_id and parent_id not in seen and len(chain) < _MAX_ANCESTORS:
        parent = by_id.get((span.trace_id, parent_id))
        if parent is None:
            break
        chain.append(parent)
        seen.add(parent_id)
        parent_id = parent.parent_span_id
    return chain


# --- mapping -----------------------------------------------------------------------------------


class NoPrompt(SpanRejected):
    """A well-formed LLM span with no prompt on it: its content may be in log records."""


def with_records(
    span: Span, ancestors: list[Span], records: list[SpanEvent], settings: Settings
) -> TrafficEvent:
    """A span mapped with the content log records joined to it (as its events)."""
    span.events = [*span.events, *records]
    return span_to_event(span, ancestors, settings)


def span_to_event(span: Span, ancestors: list[Span], settings: Settings) -> TrafficEvent:
    if len(span.trace_id) != 32 or len(span.span_id) != 16:
        raise SpanRejected("traceId/spanId", "a span needs a 16-byte trace id and 8-byte span id")
    if span.start_unix_nano <= 0:
        raise SpanRejected("startTimeUnixNano", "is missing")
    # Refused, not clamped (a clamped time would be made up): 2**64 - 1 ns, a common "unset"
    # sentinel of uint64 fields, is the year 2554, and would lead every window that ends at
    # the latest event time.
    latest = datetime.now(UTC) + MAX_FUTURE
    if span.start_unix_nano > latest.timestamp() * 1e9:
        raise SpanRejected(
            "startTimeUnixNano",
            f"is more than {MAX_FUTURE.days} day in the future ({span.start_unix_nano} ns)",
        )
    attrs = genai.with_details(span.attributes, span.events)
    messages = genai.prompt_messages(attrs, span.events)
    if not messages:
        raise NoPrompt(
            "gen_ai.input.messages",
            "no prompt recorded on this LLM span (looked for gen_ai.input.messages, "
            "gen_ai.prompt[.N], gen_ai.*.message events, llm.input_messages, input.value) "
            "nor in log records joined to it: turn on content capture in the instrumentation, "
            "e.g. OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental with "
            "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=span_only",
        )
    requested = genai.requested_model(attrs)
    served = genai.first(attrs, genai.SERVED_MODEL)
    model = served or requested
    if model is None:
        raise SpanRejected("gen_ai.request.model", "no model name on this LLM span")
    chain = [span.attributes, *(a.attributes for a in ancestors)]
    route, escalated = _route(chain, settings, str((requested or model)[1]), str(model[1]))
    input_tokens, output_tokens = genai.token_counts(attrs)
    output = genai.answer(attrs, span.events)
    latency = (
        (span.end_unix_nano - span.start_unix_nano) / 1e6
        if span.end_unix_nano >= span.start_unix_nano
        else None
    )
    data: dict[str, Any] = {
        "event_id": f"otlp-{span.trace_id}-{span.span_id}",
        "timestamp": datetime.fromtimestamp(span.start_unix_nano / 1e9, tz=UTC),
        "request": {"messages": messages, "params": genai.request_params(attrs)},
        "route": route,
        "answer": output.native(),
        "finish_reason": output.finish_reason,
        "latency_ms": latency,
        "ttft_ms": genai.ttft_ms(attrs, span.events, span.start_unix_nano),
        "usage": {"prompt_tokens": input_tokens, "completion_tokens": output_tokens},
        "cost_usd": genai.cost_usd(attrs),
        "status": "error" if span.status_error else "ok",
        "error": (
            genai.error_text(span.status_message, attrs, span.events)[:_ERROR_MAX]
            if span.status_error
            else None
        ),
        "refused": output.refused,
        "escalated": escalated,
        "attributes": _segment_attributes(span, chain, settings),
    }
    try:
        # NUL is replaced as in every format (shadowgap/ingest/body.py): protobuf strings can
        # carry it, and PostgreSQL cannot store it.
        return TrafficEvent.model_validate(replace_nul(data))
    except ValidationError as exc:
        first = exc.errors()[0]
        raise SpanRejected(field_path(tuple(first["loc"])), first["msg"]) from exc


def _names(candidates: str) -> tuple[str, ...]:
    """A setting's comma-separated attribute names, in order of preference."""
    return tuple(name.strip() for name in candidates.split(",") if name.strip())


def _lookup(chain: list[dict[str, Any]], candidates: str) -> tuple[str, Any] | None:
    """The first candidate attribute found on the nearest span (or resource) that has one."""
    keys = _names(candidates)
    for attrs in chain:
        found = genai.first(attrs, keys)
        if found is not None:
            return found
    return None


def _route(
    chain: list[dict[str, Any]], settings: Settings, requested: str, model: str
) -> tuple[dict[str, Any], bool]:
    """The native route and the escalated flag."""
    names = settings.otlp_route_attributes
    tier = _lookup(chain, names.get("tier", ""))
    reason = _lookup(chain, names.get("reason", ""))
    escalated = _lookup(chain, names.get("escalated", ""))
    score = None
    score_names = _names(names.get("score", ""))
    for attrs in chain:
        score = genai.number(attrs, score_names, minimum=None)
        if score is not None:
            break
    route = {
        "tier": (str(tier[1]) if tier else requested)[:_TIER_MAX],
        "model": model[:_ATTRIBUTE_MAX],
        "score": score,
        "reason": str(reason[1])[:_REASON_MAX] if reason else None,
    }
    return route, _truthy(escalated[1]) if escalated else False


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in {"true", "1", "yes"}
    return bool(value)


def _segment_attributes(
    span: Span, chain: list[dict[str, Any]], settings: Settings
) -> dict[str, Any]:
    found: dict[str, Any] = {}
    metadata: dict[str, Any] = {"trace_id": span.trace_id, "span_id": span.span_id}
    provider = genai.first(span.attributes, genai.PROVIDER)
    if provider is not None:
        metadata["provider"] = str(provider[1])[:_ATTRIBUTE_MAX]
    if span.name:
        metadata["span_name"] = span.name[:_ATTRIBUTE_MAX]
    for target, candidates in settings.otlp_segment_attributes.items():
        hit = _lookup([*chain, span.resource], candidates)
        if hit is None:
            continue
        value = str(hit[1])[:_ATTRIBUTE_MAX]
        if target.startswith("metadata."):
            metadata[target[len("metadata.") :]] = value
        else:
            found[target] = value
    return {**found, "metadata": metadata}
