"""Prometheus metrics of the API process."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

INGEST_REQUESTS = Counter(
    "shadowgap_ingest_requests_total",
    "Ingest requests by format and HTTP status",
    ["format", "status"],
)
EVENTS = Counter(
    "shadowgap_events_total",
    "Ingested events by format and outcome (new, duplicate, rejected)",
    ["format", "outcome"],
)
SAMPLED = Counter("shadowgap_sampled_events_total", "Events sampled for a shadow re-run")
OTLP_SKIPPED_SPANS = Counter(
    "shadowgap_otlp_skipped_spans_total",
    "OTLP spans that are not LLM calls (HTTP, database, embeddings, agents, ...): skipped, "
    "never rejected",
)
OTLP_UNJOINED = Counter(
    "shadowgap_otlp_unjoined_total",
    "OTLP halves dropped unjoined: LLM spans without a prompt whose log records never came "
    "(half=span), content log records whose span never came (half=logs)",
    ["half"],
)
ENQUEUE_FAILURES = Counter(
    "shadowgap_enqueue_failures_total",
    "Jobs that could not be handed to the broker (retried by the sweep)",
)
BUDGET_EXHAUSTED = Gauge(
    "shadowgap_shadow_budget_exhausted", "1 while the daily USD shadow budget is spent"
)
QUEUE_DEPTH = Gauge("shadowgap_queue_depth", "Messages waiting per queue", ["queue"])
INGEST_SECONDS = Histogram(
    "shadowgap_ingest_seconds",
    "Ingest request handling time",
    ["format"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
INGEST_GROUP_SIZE = Histogram(
    "shadowgap_ingest_group_requests",
    "Requests stored per group-commit transaction",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128),
)
