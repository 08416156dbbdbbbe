"""Joins an LLM span with the OTLP log records that carry its content.

Some instrumentations put the prompt and answer in log records (OTel "events") rather than on
the span: the official ``opentelemetry-instrumentation-openai-v2`` with
``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=event_only`` writes them on a
``gen_ai.client.inference.operation.details`` record whose trace and span ids are the span's.
Spans (``/v1/traces``) and logs (``/v1/logs``) travel in separate exports, in either order, so
the first half to arrive waits here for the other, keyed by (trace id, span id):

- a span with no prompt waits for its records; records that arrive first wait for their span;
- when both are here, the records become the span's events and the span is mapped as usual
  (the span's own attributes win over a record's: OpenLIT writes the content on both, and the
  request's tool definitions on the record only, which therefore completes its span when it
  comes first, as OpenLIT's exporters send it);
- records that come after their span was mapped are dropped quietly as copies;
- joined halves stay until their wait ends, so that a retried request (after a database outage
  made the first one fail) joins them again: nothing is lost, and the event is stored once;
- a half whose partner has not come within :data:`WAIT_SECONDS` is dropped, counted in
  ``shadowgap_otlp_unjoined_total{half}`` and logged (ids only, never content). A span dropped
  so is one whose instrumentation recorded no content anywhere: the log line says how to turn
  content capture on.

The halves wait in this process's memory: bounded (:data:`MAX_WAITING` per kind,
:data:`MAX_WAITING_BYTES` in all, :data:`MAX_RECORDS_PER_SPAN`; the oldest dropped first, counted
as unjoined), lost on restart, and not shared between API processes, so
a deployment with several API processes behind a load balancer should let the instrumentation
write content on the span (docs/sending-traffic.md says how for each one).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import orjson

from shadowgap import metrics
from shadowgap.ingest.genai import SpanEvent

log = logging.getLogger(__name__)

# Long enough for both batch exporters (the SDK's span and log processors flush every 5 s and
# 1 s by default) and a Collector's batching in between; short enough to hold little memory.
WAIT_SECONDS = 120.0
MAX_WAITING = 10_000
# And at most this many bytes of attributes (spans and records together), and records per span:
# a sender cannot make the API hold more than this, whatever it sends.
MAX_WAITING_BYTES = 64 * 1024 * 1024
MAX_RECORDS_PER_SPAN = 64

Key = tuple[str, str]  # (trace id hex, span id hex)


@dataclass
class WaitingSpan:
    span: Any  # shadowgap.ingest.otlp.Span (not imported: otlp imports this module)
    ancestors: list[Any]
    reason: str
    since: float
    size: int = 0
    joined: bool = False


@dataclass
class _WaitingRecords:
    events: list[SpanEvent]
    since: float
    size: int = 0
    joined: bool = False


def _size(attributes: dict[str, Any]) -> int:
    """About how much memory a half's attributes hold (their JSON length)."""
    return len(orjson.dumps(attributes, default=str))


class Joiner:
    """The waiting halves, safe to use from the route's worker threads."""

    def __init__(
        self,
        wait_seconds: float = WAIT_SECONDS,
        capacity: int = MAX_WAITING,
        max_bytes: int = MAX_WAITING_BYTES,
    ) -> None:
        self.wait_seconds = wait_seconds
        self.capacity = capacity
        self.max_bytes = max_bytes
        self._bytes = 0
        self._lock = threading.Lock()
        self._spans: OrderedDict[Key, WaitingSpan] = OrderedDict()
        self._records: OrderedDict[Key, _WaitingRecords] = OrderedDict()
        self._mapped: OrderedDict[Key, float] = OrderedDict()

    def take_records(self, key: Key) -> list[SpanEvent]:
        """The records that came before their span (the caller maps the span with them)."""
        with self._lock:
            self._expire(time.monotonic())
            records = self._records.get(key)
            if records is None:
                return []
            records.joined = True  # kept until the wait ends, for a retried request
            return list(records.events)

    def wait_for_records(self, key: Key, span: Any, ancestors: list[Any], reason: str) -> None:
        """A span that carries no prompt waits for the records that may carry it."""
        size = _size(span.attributes) + sum(_size(a.attributes) for a in ancestors)
        with self._lock:
            now = time.monotonic()
            self._drop_span(key)
            self._spans[key] = WaitingSpan(span, ancestors, reason, now, size)
            self._bytes += size
            self._bound()

    def span_mapped(self, key: Key) -> None:
        """A span that was mapped: records for it that come later are copies."""
        with self._lock:
            self._remember_mapped(key, time.monotonic())

    def records(self, key: Key, events: list[SpanEvent]) -> WaitingSpan | None:
        """Content records of one span: the waiting span they complete (the caller maps it
        with ``events``), else ``None`` (they wait, or are dropped as copies).

        Joined halves stay here until their wait ends, marked joined: when the request that
        joined them fails to store (a database outage), the exporter's retry of either
        request joins them again, and the event id stores the event once."""
        with self._lock:
            now = time.monotonic()
            self._expire(now)
            waiting = self._spans.get(key)
            if waiting is not None:
                waiting.joined = True
                self._hold(key, events, now, joined=True)
                self._bound()
                return waiting
            if key in self._mapped:
                return None
            self._hold(key, events, now, joined=False)
            self._bound()
            return None

    def waiting(self) -> tuple[int, int]:
        """How many spans and record sets wait for their partner now."""
        with self._lock:
            return (
                sum(not w.joined for w in self._spans.values()),
                sum(not r.joined for r in self._records.values()),
            )

    def _hold(self, key: Key, events: list[SpanEvent], now: float, joined: bool) -> None:
        held = self._records.setdefault(key, _WaitingRecords([], now))
        if held.joined:
            return  # a retried request: the content is here already
        held.joined = joined
        for event in events[: max(MAX_RECORDS_PER_SPAN - len(held.events), 0)]:
            size = _size(event.attributes)
            held.events.append(event)
            held.size += size
            self._bytes += size

    def clear(self) -> None:
        with self._lock:
            self._spans.clear()
            self._records.clear()
            self._mapped.clear()
            self._bytes = 0

    def _drop_span(self, key: Key) -> None:
        previous = self._spans.pop(key, None)
        if previous is not None:  # the same span redelivered: the newer copy waits
            self._bytes -= previous.size

    def _remember_mapped(self, key: Key, now: float) -> None:
        self._mapped[key] = now
        self._mapped.move_to_end(key)
        while len(self._mapped) > self.capacity:
            self._mapped.popitem(last=False)

    def _expire(self, now: float) -> None:
        limit = now - self.wait_seconds
        while self._spans and next(iter(self._spans.values())).since < limit:
            self._evict_span()
        while self._records and next(iter(self._records.values())).since < limit:
            self._evict_records()
        while self._mapped and next(iter(self._mapped.values())) < limit:
            self._mapped.popitem(last=False)

    def _bound(self) -> None:
        """Drop the oldest halves while either kind is over its count, or both over bytes."""
        while len(self._spans) > self.capacity:
            self._evict_span()
        while len(self._records) > self.capacity:
            self._evict_records()
        while self._bytes > self.max_bytes and (self._spans or self._records):
            span_since = next(iter(self._spans.values())).since if self._spans else None
            records_since = next(iter(self._records.values())).since if self._records else None
            if records_since is None or (span_since is not None and span_since <= records_since):
                self._evict_span()
            else:
                self._evict_records()

    def _evict_span(self) -> None:
        key, waiting = self._spans.popitem(last=False)
        self._bytes -= waiting.size
        if not waiting.joined:
            _unjoined_span(key, waiting.reason)

    def _evict_records(self) -> None:
        _, records = self._records.popitem(last=False)
        self._bytes -= records.size
        if not records.joined:
            metrics.OTLP_UNJOINED.labels(half="logs").inc()


def _unjoined_span(key: Key, reason: str) -> None:
    metrics.OTLP_UNJOINED.labels(half="span").inc()
    log.warning(
        "OTLP LLM span dropped: no prompt on it and no log record for it arrived",
        extra={"trace_id": key[0], "span_id": key[1], "reason": reason},
    )


# The API process's joiner.
JOINER = Joiner()
