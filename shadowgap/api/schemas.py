"""Response models of the JSON API, so the OpenAPI schema documents every response.

The routes still build their responses as dicts and declare one of these as ``response_model``
with ``response_model_exclude_unset=True``: a response carries exactly the keys its route set,
as it did before the models existed. Values are serialised by Pydantic as before (FastAPI already
serialised the ``dict[str, Any]`` return annotations with it: datetimes end in ``Z``); numbers
that may be integers are :data:`Number` (``int | float``), so ``3`` stays ``3``.

Every model allows extra keys, so a key a domain view adds later is passed through, not dropped.
Views owned by other packages (detector estimates, attribution decompositions) are typed down to
their stable top level and left as JSON objects below it; their modules document them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from shadowgap.alerts.schemas import AlertEvidence
from shadowgap.enums import (
    AlertStatus,
    AuditAction,
    AuditVia,
    DeliveryAction,
    DeliveryStatus,
    Severity,
    SliceStatus,
)

Number = int | float
JSONObject = dict[str, Any]


class Schema(BaseModel):
    model_config = ConfigDict(extra="allow")


# --- operations ------------------------------------------------------------------------------


class Health(Schema):
    status: str = Field(description="always 'ok' while the process serves requests")


class WorkersCheck(Schema):
    status: str = Field(description="'ok', 'no worker seen', or the error that hid the answer")
    alive: int | None = Field(default=None, description="workers seen within the stale window")
    last_seen_seconds_ago: Number | None = None
    embedded_model: str | list[str] | None = Field(
        default=None, description="'ok', or the embedded model's problems the workers report"
    )


class Readiness(Schema):
    status: str = Field(description="'ready' or 'not ready' (then the status code is 503)")
    database: str
    broker: str
    workers: WorkersCheck
    flagship: str


# --- segments --------------------------------------------------------------------------------


class SegmentView(Schema):
    key: str
    dimensions: JSONObject
    volume: int
    cheap_events: int
    cheap_share: Number | None
    sampled_events: int
    first_event_at: datetime | None = Field(description="earliest event time (sender's clock)")
    last_event_at: datetime | None = Field(description="latest event time (sender's clock)")
    first_seen_at: datetime | None = Field(description="arrival of the first event")
    last_seen_at: datetime | None = Field(description="arrival of the latest event")


class SamplingView(Schema):
    budget_fraction: Number
    daily_budget_usd: Number | None
    spent_today_usd: Number
    budget_exhausted: bool


class SegmentList(Schema):
    total: int
    limit: int
    offset: int
    sampling: SamplingView
    segments: list[SegmentView]


class SignalView(Schema):
    signal: str
    description: str
    detector: str
    params: JSONObject
    n_updates: int
    watermark: int
    updated_at: datetime | None
    warming_up: bool
    statistic: Number | None
    threshold: Number | None
    estimate: JSONObject | None = Field(description="the detector's stored estimate")
    power: JSONObject | None = Field(description="shadowgap.drift.power.signal_power")


class JudgeCoverage(Schema):
    pairs: int
    judges: dict[str, int]
    open_ended: int
    open_ended_share: Number | None
    advice: str | None


class MeanAndCount(Schema):
    mean: Number | None
    n: int


class DriftEventView(Schema):
    id: int
    segment: str
    signal: str
    detector: str
    detected_at: datetime
    sample_index: int
    at_event_id: str | None = Field(description="the sender's id of the event it fired at")
    at_occurred_at: datetime | None
    at_event_pk: int | None
    before: MeanAndCount
    after: MeanAndCount
    statistic: Number | None
    threshold: Number | None
    details: JSONObject | None


class SegmentDetail(SegmentView):
    signals: list[SignalView]
    judging: JudgeCoverage
    drift_events: list[DriftEventView]


class DriftEventList(Schema):
    drift_events: list[DriftEventView]


# --- attribution -----------------------------------------------------------------------------


class PeriodView(Schema):
    window: JSONObject = Field(description="first/last event pk and start/end (ISO 8601)")
    events: int
    judged_pairs: int
    cheap_share: Number | None
    scored_share: Number | None


class Attribution(Schema):
    """shadowgap.attribution.explain: the change split into router share, cheap path and
    traffic mix; ``quality``, ``cost`` and ``latency`` only when ``available``."""

    segment: str
    before: PeriodView
    after: PeriodView
    resamples: int
    ci_level: Number
    available: bool
    reason: str | None = None
    scored: bool | None = None
    quality: JSONObject | None = None
    cost: JSONObject | None = None
    latency: JSONObject | None = None
    headline_metric: str | None = None
    headline: str | None = None


class ThresholdRow(Schema):
    threshold: Number
    cheap_share: Number | None
    cost_per_request_usd: Number | None
    covered: bool
    pairs: int
    excess_gap: Number | None
    excess_gap_ci: list[Number | None] | None


class Thresholds(Schema):
    segment: str
    window: JSONObject
    events: int
    scored_events: int
    forward_pairs: int
    reverse_pairs: int
    cheap_when: str
    target_excess_gap: Number | None
    current_threshold: Number | None
    current_cheap_share: Number | None
    recommended: ThresholdRow | None
    recommendation_confidence: Number
    thresholds: list[ThresholdRow]


# --- slices ----------------------------------------------------------------------------------


class SliceEstimate(Schema):
    excess_gap: Number | None
    ci: list[Number | None]
    gap_rate: Number | None
    noise_rate: Number | None
    n: Number | None


class SliceView(Schema):
    id: int
    key: str
    conditions: list[Any]
    score: Number
    traffic_share: Number
    n: int
    status: SliceStatus
    active: bool
    after: SliceEstimate | None
    before: SliceEstimate | None
    complement: SliceEstimate | None
    rose: bool | None
    difference: Number | None
    p_value: Number | None
    q_value: Number | None
    example_event_ids: list[str]
    window: JSONObject | None
    previous_window: JSONObject | None
    confirmation: JSONObject | None
    alert_id: int | None
    first_found_at: datetime
    last_found_at: datetime


class WatchedSliceView(Schema):
    """A slice under watch by exploration: suggestive, not confirmed, boosted in sampling."""

    key: str
    conditions: list[Any]
    nominated_at: datetime
    pairs: int  # judged pairs since nomination (only these can confirm it)
    next_look_pairs: int | None
    evidence: JSONObject  # nominal z, p_value, difference, n at nomination
    boost: Number  # exploration probability of a matching request
    last_test: JSONObject | None
    expected_days_to_decision: Number | None


class SliceList(Schema):
    items: list[SliceView]
    watching: list[WatchedSliceView] = []


# --- alerts ----------------------------------------------------------------------------------


class AlertView(Schema):
    id: int
    segment: str
    signal: str
    status: AlertStatus
    severity: Severity
    opened_at: datetime
    last_notified_at: datetime | None
    acknowledged_at: datetime | None
    resolved_at: datetime | None
    resolved_by: str | None
    evidence: AlertEvidence


class AuditView(Schema):
    at: datetime
    actor: str
    via: AuditVia
    action: AuditAction
    target: str | None
    detail: JSONObject | None


class DeliveryView(Schema):
    id: int
    channel: str
    action: DeliveryAction
    status: DeliveryStatus
    attempts: int
    last_error: str | None
    delivered_at: datetime | None


class AlertDetail(AlertView):
    audit: list[AuditView]
    deliveries: list[DeliveryView]


class AlertList(Schema):
    alerts: list[AlertView]


# --- routing proposals -----------------------------------------------------------------------


class Estimate(Schema):
    value: Number | None
    low: Number | None
    high: Number | None


class Effects(Schema):
    cheap_share: Number
    cost_per_day_usd: Estimate
    excess_gap: Estimate
    p95_ms: Estimate


class ProposalFormats(Schema):
    litellm_config: str | None
    routellm_model: str | None
    json_rule: JSONObject


class Proposal(Schema):
    id: str
    kind: str
    segment: str | None = None
    slice: str | None = None  # a confirmed discovered slice's key (instead of a segment)
    conditions: dict[str, str]
    triggered_by: list[str]
    window: JSONObject
    current: Effects
    predicted: Effects
    threshold: Number | None = None
    confidence: Number | None = None
    evidence: JSONObject
    formats: ProposalFormats
    assumptions: str


class Proposals(Schema):
    window: JSONObject
    target_excess_gap: Number
    proposals: list[Proposal]
