"""Every table, as SQLAlchemy 2.0 typed models.

Ids that cross stage boundaries are the integer primary keys. Uniqueness constraints are what
make every job idempotent: ``traffic_events (event_id, occurred_at)``, ``shadow_runs (event_pk,
replicate)``, ``verdicts (event_pk, kind)``, ``detector_states (segment_id, signal)``.

On PostgreSQL ``traffic_events`` is partitioned by event time (``shadowgap/db/partitions.py``):
its primary key there is ``(id, occurred_at)``, ids stay unique because only ingest numbers
them, and the tables that point at an event (``event_pk``) carry no foreign key: purge deletes
them with the event (docs/operations.md, "Storage").
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any, Generic, TypeVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
    true,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from shadowgap.enums import (
    AlertStatus,
    AuditAction,
    AuditVia,
    ChangeStatus,
    CostKind,
    DeliveryAction,
    DeliveryStatus,
    EventStatus,
    RunStatus,
    Severity,
    SliceStatus,
    VerdictKind,
    Winner,
)

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC on every backend (SQLite hands back naive datetimes)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


E = TypeVar("E", bound=StrEnum)


class EnumString(TypeDecorator[E], Generic[E]):
    """A ``StrEnum`` stored as its plain string value in a VARCHAR column (no database enum
    type, so adding a member needs no migration); rows read back as members, and writing a
    value outside the enum fails before it reaches the database."""

    impl = String
    cache_ok = True

    def __init__(self, enum: type[E], length: int) -> None:
        super().__init__(length)
        self.enum = enum

    def process_bind_param(self, value: E | str | None, dialect: Dialect) -> str | None:
        return None if value is None else self.enum(value).value

    def process_result_value(self, value: str | None, dialect: Dialect) -> E | None:
        return None if value is None else self.enum(value)


JSONType = JSON().with_variant(JSONB(), "postgresql")
# A JSON column where Python None is SQL NULL (JSONType stores it as the JSON value null).
NullableJSON = JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")
# SQLite only auto-increments INTEGER PRIMARY KEY, so BigInteger ids fall back to Integer there.
BigId = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSONType}


class Segment(Base):
    __tablename__ = "segments"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(512), unique=True)
    dimensions: Mapped[dict[str, Any]] = mapped_column(JSONType)
    event_count: Mapped[int] = mapped_column(BigInteger, default=0)
    cheap_count: Mapped[int] = mapped_column(BigInteger, default=0)
    sampled_count: Mapped[int] = mapped_column(BigInteger, default=0)
    # Arrival times (when shadowgap received the first and the latest event): no-data
    # alerts watch these, so a replay of history does not look silent.
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime | None]
    # Event times (the earliest and latest sender timestamp, traffic_events.occurred_at):
    # where the segment's traffic lies on its own clock, e.g. for a backfill.
    first_occurred_at: Mapped[datetime | None]
    last_occurred_at: Mapped[datetime | None]


class SegmentCountDelta(Base):
    """One ingest transaction's additions to a segment's counters, until folded into the
    ``segments`` row (PostgreSQL; shadowgap/db/segment_counts.py). No foreign key: an insert
    here must lock nothing."""

    __tablename__ = "segment_count_deltas"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    segment_id: Mapped[int] = mapped_column(index=True)
    events: Mapped[int] = mapped_column(BigInteger)
    cheap: Mapped[int] = mapped_column(BigInteger)
    sampled: Mapped[int] = mapped_column(BigInteger)
    first_occurred_at: Mapped[datetime | None]
    last_occurred_at: Mapped[datetime | None]
    last_seen_at: Mapped[datetime | None]


class EventHorizon(Base):
    """One row: every traffic event id up to ``safe_id`` is final, and the candidate that
    becomes the horizon once none of ``candidate_holders`` (a JSON list of the ingest
    transactions in flight when it was read) is left (shadowgap/db/event_horizon.py)."""

    __tablename__ = "event_horizon"

    id: Mapped[int] = mapped_column(primary_key=True)
    safe_id: Mapped[int] = mapped_column(BigInteger)
    candidate_id: Mapped[int | None] = mapped_column(BigInteger)
    candidate_holders: Mapped[str | None] = mapped_column(Text)


class TrafficEventHole(Base):
    """Event ids up to the horizon that no stored event has (rolled back, skipped)."""

    __tablename__ = "traffic_event_holes"

    first_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    last_id: Mapped[int] = mapped_column(BigInteger)


class TrafficEvent(Base):
    __tablename__ = "traffic_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # Redelivery dedup is on (event_id, occurred_at): a unique key of a partitioned table must
    # hold the partition key, and a redelivery repeats the event's own timestamp.
    event_id: Mapped[str] = mapped_column(String(200))
    # Indexed by (segment_id, id) below: every per-segment read is also ordered by id.
    segment_id: Mapped[int] = mapped_column(ForeignKey("segments.id"))
    source_format: Mapped[str] = mapped_column(String(32))
    occurred_at: Mapped[datetime] = mapped_column(index=True)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    route_tier: Mapped[str] = mapped_column(String(128))
    route_model: Mapped[str] = mapped_column(String(256))
    route_score: Mapped[float | None] = mapped_column(Float)
    route_reason: Mapped[str | None] = mapped_column(Text)
    is_cheap: Mapped[bool] = mapped_column(Boolean)
    request: Mapped[dict[str, Any]] = mapped_column(JSONType)
    prompt_hash: Mapped[str] = mapped_column(String(64))
    # The answer's prose ('' when it only calls tools, NULL when there is none), its tool
    # calls in OpenAI's shape (NULL for prose and for rows stored before 0011) and why it
    # stopped.
    answer: Mapped[str | None] = mapped_column(Text)
    answer_tool_calls: Mapped[list[Any] | None] = mapped_column(NullableJSON)
    finish_reason: Mapped[str | None] = mapped_column(String(64))
    latency_ms: Mapped[float | None] = mapped_column(Float)
    ttft_ms: Mapped[float | None] = mapped_column(Float)
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cost_usd: Mapped[float | None] = mapped_column(Float)
    status: Mapped[EventStatus] = mapped_column(EnumString(EventStatus, 16))
    error: Mapped[str | None] = mapped_column(Text)
    refused: Mapped[bool] = mapped_column(Boolean, default=False)
    escalated: Mapped[bool] = mapped_column(Boolean, default=False)
    attributes: Mapped[dict[str, Any]] = mapped_column(JSONType)
    # What ingest found in a cheap answer without a flagship (shadowgap/ingest/answer_checks.py):
    # the inputs of the answer-defect signals; NULL where no check applies.
    answer_checks: Mapped[dict[str, Any] | None] = mapped_column(NullableJSON)

    __table_args__ = (
        Index("ix_traffic_events_segment_id_id", "segment_id", "id"),
        UniqueConstraint("event_id", "occurred_at"),
    )


class SamplingDecision(Base):
    """A cheap-routed event chosen for a shadow re-run, with its inclusion probability."""

    __tablename__ = "sampling_decisions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    event_pk: Mapped[int] = mapped_column(BigId, unique=True)
    segment_id: Mapped[int] = mapped_column(ForeignKey("segments.id"), index=True)
    inclusion_probability: Mapped[float] = mapped_column(Float)
    hash_value: Mapped[float] = mapped_column(Float)
    replicates: Mapped[int] = mapped_column(Integer, default=1)
    decided_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Which draw took it (exploration, issue 23): base_draw False means only the exploration
    # draw did, and the segment quality detectors skip it; base_probability is the base
    # design's own probability (NULL: the same as inclusion_probability).
    base_draw: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    base_probability: Mapped[float | None] = mapped_column(Float)
    # Set once shadow.run has been handed to the broker; the outbox sweep re-sends the rest.
    enqueued_at: Mapped[datetime | None]
    # A shadow.run job holds the decision until then: a duplicate message (a sweep re-send, a
    # redelivery) leaves it alone instead of paying the flagship a second time.
    claimed_until: Mapped[datetime | None]


class ReverseSample(Base):
    """A flagship-routed event near the router's threshold chosen for a re-run on the cheap
    model (the reverse shadow), with its inclusion probability and the threshold it was near.
    Its cheap re-run is ShadowRun replicate 2, its verdict kind 'reverse'."""

    __tablename__ = "reverse_samples"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    event_pk: Mapped[int] = mapped_column(BigId, unique=True)
    segment_id: Mapped[int] = mapped_column(ForeignKey("segments.id"), index=True)
    inclusion_probability: Mapped[float] = mapped_column(Float)
    threshold: Mapped[float] = mapped_column(Float)
    decided_at: Mapped[datetime] = mapped_column(default=utcnow)
    enqueued_at: Mapped[datetime | None]


class ShadowRun(Base):
    """One re-run. replicate 0 is the flagship comparison run, 1 the flagship's noise-floor
    repeat, 2 the cheap model's re-run of a flagship-routed event (the reverse shadow)."""

    __tablename__ = "shadow_runs"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    event_pk: Mapped[int] = mapped_column(BigId)
    replicate: Mapped[int] = mapped_column(Integer)
    status: Mapped[RunStatus] = mapped_column(EnumString(RunStatus, 16))
    client: Mapped[str] = mapped_column(String(32))
    model: Mapped[str] = mapped_column(String(256))
    # As on traffic_events: prose ('' for a tool call), tool calls, finish reason.
    answer: Mapped[str | None] = mapped_column(Text)
    answer_tool_calls: Mapped[list[Any] | None] = mapped_column(NullableJSON)
    finish_reason: Mapped[str | None] = mapped_column(String(64))
    latency_ms: Mapped[float | None] = mapped_column(Float)
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cost_usd: Mapped[float] = mapped_column(Float, default=0.0)
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("event_pk", "replicate"),)


class Verdict(Base):
    """A judged pair: kind 'gap' is cheap vs flagship, 'noise' is flagship vs replicate,
    'reverse' is the cheap model's re-run vs the flagship answer the router served."""

    __tablename__ = "verdicts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    event_pk: Mapped[int] = mapped_column(BigId)
    segment_id: Mapped[int] = mapped_column(ForeignKey("segments.id"), index=True)
    kind: Mapped[VerdictKind] = mapped_column(EnumString(VerdictKind, 16))
    judge: Mapped[str] = mapped_column(String(64))
    judge_model: Mapped[str | None] = mapped_column(String(256))
    prompt_version: Mapped[str | None] = mapped_column(String(32))
    winner: Mapped[Winner] = mapped_column(EnumString(Winner, 16))
    gap_score: Mapped[float] = mapped_column(Float)
    inclusion_probability: Mapped[float] = mapped_column(Float)
    raw: Mapped[dict[str, Any]] = mapped_column(JSONType)
    rationale: Mapped[str] = mapped_column(Text, default="")
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cost_usd: Mapped[float] = mapped_column(Float, default=0.0)
    latency_ms: Mapped[float] = mapped_column(Float, default=0.0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("event_pk", "kind"),)


class CostLedger(Base):
    """Shadow spend per UTC day, segment and kind (flagship | judge)."""

    __tablename__ = "cost_ledger"

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(Date)
    segment_id: Mapped[int] = mapped_column(ForeignKey("segments.id"))
    kind: Mapped[CostKind] = mapped_column(EnumString(CostKind, 16))
    usd: Mapped[float] = mapped_column(Float, default=0.0)
    tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    calls: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (UniqueConstraint("day", "segment_id", "kind"),)


class DetectorState(Base):
    """A segment's detector for one signal, persisted between micro-batches."""

    __tablename__ = "detector_states"

    id: Mapped[int] = mapped_column(primary_key=True)
    segment_id: Mapped[int] = mapped_column(ForeignKey("segments.id"))
    signal: Mapped[str] = mapped_column(String(64))
    detector: Mapped[str] = mapped_column(String(64))
    # Versioned JSON (shadowgap.drift.codec); never pickle.
    state: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    # Highest traffic_events.id (or verdicts.id for quality) already fed to the detector.
    watermark: Mapped[int] = mapped_column(BigInteger, default=0)
    n_updates: Mapped[int] = mapped_column(BigInteger, default=0)
    estimate: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("segment_id", "signal"),)


class DriftEvent(Base):
    __tablename__ = "drift_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    segment_id: Mapped[int] = mapped_column(ForeignKey("segments.id"), index=True)
    signal: Mapped[str] = mapped_column(String(64))
    detector: Mapped[str] = mapped_column(String(64))
    detected_at: Mapped[datetime] = mapped_column(default=utcnow)
    at_event_pk: Mapped[int | None] = mapped_column(BigInteger)
    sample_index: Mapped[int] = mapped_column(BigInteger)
    before_mean: Mapped[float | None] = mapped_column(Float)
    before_n: Mapped[int] = mapped_column(BigInteger, default=0)
    after_mean: Mapped[float | None] = mapped_column(Float)
    after_n: Mapped[int] = mapped_column(BigInteger, default=0)
    statistic: Mapped[float | None] = mapped_column(Float)
    threshold: Mapped[float | None] = mapped_column(Float)
    details: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)


class Alert(Base):
    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(primary_key=True)
    segment_id: Mapped[int] = mapped_column(ForeignKey("segments.id"), index=True)
    signal: Mapped[str] = mapped_column(String(64))
    status: Mapped[AlertStatus] = mapped_column(EnumString(AlertStatus, 16))
    severity: Mapped[Severity] = mapped_column(EnumString(Severity, 16))
    drift_event_id: Mapped[int | None] = mapped_column(ForeignKey("drift_events.id"))
    evidence: Mapped[dict[str, Any]] = mapped_column(JSONType)
    opened_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_notified_at: Mapped[datetime | None]
    acknowledged_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    # A ResolvedBy value, or a longer free text cut to 32 characters (kept a plain string).
    resolved_by: Mapped[str | None] = mapped_column(String(32))
    baseline_streak: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (
        # At most one unresolved alert per segment and signal.
        Index(
            "uq_alerts_open_segment_signal",
            "segment_id",
            "signal",
            unique=True,
            postgresql_where=text("status <> 'resolved'"),
            sqlite_where=text("status <> 'resolved'"),
        ),
    )


class Delivery(Base):
    __tablename__ = "deliveries"

    id: Mapped[int] = mapped_column(primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id"), index=True)
    channel: Mapped[str] = mapped_column(String(32))
    action: Mapped[DeliveryAction] = mapped_column(EnumString(DeliveryAction, 16))
    status: Mapped[DeliveryStatus] = mapped_column(EnumString(DeliveryStatus, 16))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None]
    # A sender holds the delivery until then while it calls the channel, outside any
    # transaction; a sweep or a retry leaves it alone meanwhile.
    claimed_until: Mapped[datetime | None]


class DeliveryAttempt(Base):
    __tablename__ = "delivery_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("deliveries.id"), index=True)
    attempted_at: Mapped[datetime] = mapped_column(default=utcnow)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    ok: Mapped[bool] = mapped_column(Boolean)


class Report(Base):
    __tablename__ = "reports"

    id: Mapped[int] = mapped_column(primary_key=True)
    period_start: Mapped[datetime]
    period_end: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    summary: Mapped[dict[str, Any]] = mapped_column(JSONType)
    html: Mapped[str] = mapped_column(Text)


class AuditEntry(Base):
    """Who did what: ack, resolve, promote, sign-in. Shown on the alert it concerns."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(256))
    via: Mapped[AuditVia] = mapped_column(EnumString(AuditVia, 16))
    action: Mapped[AuditAction] = mapped_column(EnumString(AuditAction, 32))
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("alerts.id"), index=True)
    target: Mapped[str | None] = mapped_column(String(512))
    detail: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)


class PendingOriginal(Base):
    """Unredacted text of a sampled event (request, cheap answer, flagship answers), kept only
    until the event's verdicts are stored so the flagship and judge see what the cheap model
    saw. Never read by the API, the dashboard or the notifiers."""

    __tablename__ = "pending_originals"

    event_pk: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    part: Mapped[str] = mapped_column(String(32), primary_key=True)
    content: Mapped[dict[str, Any]] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class PurgedEvent(Base):
    """Tombstone of a purged event id: a redelivery of it is a duplicate, never stored again."""

    __tablename__ = "purged_events"

    event_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    purged_at: Mapped[datetime] = mapped_column(default=utcnow)
    reason: Mapped[str] = mapped_column(String(256))


class WorkerHeartbeat(Base):
    """A Celery worker's consumer, last seen alive (written from its own event loop)."""

    __tablename__ = "worker_heartbeats"

    id: Mapped[int] = mapped_column(primary_key=True)
    hostname: Mapped[str] = mapped_column(String(255), unique=True)
    pid: Mapped[int] = mapped_column(Integer)
    queues: Mapped[str] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    # The embedded model's self-check in this worker: NULL (not needed), "ok" or the problem.
    embedded_model: Mapped[str | None] = mapped_column(Text, nullable=True)


class DashboardSession(Base):
    """A dashboard sign-in (shadowgap.api.auth.sessions): the signed cookie names it, and it
    is valid only while this row exists. Sign-out, or the key leaving SHADOWGAP_API_KEYS,
    deletes it; every API process reads the same row, so that ends it everywhere.

    ``id_digest`` is the SHA-256 of the session id: the id itself is only in the cookie, so
    a copy of this table lets no one sign in."""

    __tablename__ = "dashboard_sessions"

    id_digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_name: Mapped[str] = mapped_column(String(256))
    key_fingerprint: Mapped[str] = mapped_column(String(16), index=True)
    scope: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)


class AuthFailureWindow(Base):
    """Failed sign-ins and wrong API keys counted per throttle bucket (a client address or a
    key prefix, as a keyed digest: no address or key text is stored) and fixed time window
    (shadowgap.api.auth.throttle). Shared by every API process through the database."""

    __tablename__ = "auth_failure_windows"

    bucket: Mapped[str] = mapped_column(String(64), primary_key=True)
    # Unix seconds at which the window starts (a multiple of the window length).
    window_start: Mapped[int] = mapped_column(
        BigInteger, primary_key=True, autoincrement=False, index=True
    )
    failures: Mapped[int] = mapped_column(Integer)


class SliceFeatures(Base):
    """An event's slice features (shadowgap.slices.features), one row per stored event. On
    PostgreSQL partitioned by day like traffic_events (primary key ``(event_pk, occurred_at)``
    there); the text window empties ``features`` of events that were not sampled: they only
    served the sampling draw at ingest (``user_key`` and ``hour`` stay, for the cadence).

    ``user_key`` and ``hour`` (hours since the epoch, event time) let discovery count each
    user's requests per active hour (the cadence feature) with one GROUP BY.
    """

    __tablename__ = "slice_features"

    event_pk: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)
    occurred_at: Mapped[datetime] = mapped_column(index=True)
    user_key: Mapped[str | None] = mapped_column(String(128))
    hour: Mapped[int] = mapped_column(Integer)
    features: Mapped[dict[str, Any]] = mapped_column(JSONType)


class UserCadence(Base):
    """Each user's cadence class (shadowgap.slices.cadence) over the last discovery window,
    replaced by every hourly run: ingest records it with the slice features of the user's
    later requests, so a cadence condition can be matched per request."""

    __tablename__ = "user_cadence"

    user_key: Mapped[str] = mapped_column(String(128), primary_key=True)
    cadence: Mapped[str] = mapped_column(String(16))
    requests: Mapped[int] = mapped_column(Integer)
    active_hours: Mapped[int] = mapped_column(Integer)
    window_end: Mapped[datetime]


class Slice(Base):
    """A discovered slice: a conjunction of feature conditions, keyed by its canonical text.

    ``status``: ``found`` (significant on the window that found it, awaiting confirmation on
    later, disjoint data), ``confirmed`` (significant there too: the slice alert opens) or
    ``unconfirmed`` (not significant there). ``active`` marks the slices of the latest run.
    """

    __tablename__ = "slices"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(1024), unique=True)
    conditions: Mapped[list[Any]] = mapped_column(JSONType)
    status: Mapped[SliceStatus] = mapped_column(EnumString(SliceStatus, 16))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    first_found_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_found_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The window of the finding now awaiting (or past) confirmation.
    window_start: Mapped[datetime]
    window_end: Mapped[datetime]
    score: Mapped[float] = mapped_column(Float)
    traffic_share: Mapped[float] = mapped_column(Float)
    n: Mapped[int] = mapped_column(Integer)
    details: Mapped[dict[str, Any]] = mapped_column(JSONType)
    confirmation: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    confirmed_at: Mapped[datetime | None]
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("alerts.id"))


class TextCopy(Base):
    """One copy of request text kept outside the event's own rows, and one event it quotes:
    ``kind`` is ``alert`` (``alerts.evidence``, ``copy_id`` the alert), ``delivery``
    (``deliveries.payload``) or ``outbox_file`` (the file at ``path`` written for the delivery
    ``copy_id``). Written in the same transaction as the copy, so purge and retention find
    every copy by the events it quotes (``shadowgap.privacy.copies``). No foreign key: purge
    deletes these rows with the events, and a stale row (a copy that no longer quotes the
    event) only costs a no-op."""

    __tablename__ = "text_copies"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    copy_id: Mapped[int] = mapped_column(BigInteger)
    path: Mapped[str | None] = mapped_column(String(1024))
    event_pk: Mapped[int] = mapped_column(BigInteger, index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index("ix_text_copies_kind_copy_id", "kind", "copy_id"),)


class SliceWatch(Base):
    """A slice under watch by exploration (``shadowgap/slices/exploration.py``): nominated on
    suggestive evidence, boosted in sampling until confirmed (then ``slice_id`` is the slice
    it alerted as) or cleared. Keyed by its canonical text; a cleared slice nominated again
    starts over in the same row."""

    __tablename__ = "slice_watches"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(1024), unique=True)
    conditions: Mapped[list[Any]] = mapped_column(JSONType)
    status: Mapped[str] = mapped_column(String(16), index=True)
    nominated_at: Mapped[datetime]
    decided_at: Mapped[datetime | None]
    volume_per_day: Mapped[float] = mapped_column(Float)
    boost: Mapped[float] = mapped_column(Float)
    evidence: Mapped[dict[str, Any]] = mapped_column(JSONType)
    looks_done: Mapped[int] = mapped_column(Integer)
    pairs: Mapped[int] = mapped_column(Integer)
    last_test: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    slice_id: Mapped[int | None] = mapped_column(ForeignKey("slices.id"))


class RouterChange(Base):
    """A router change that went live (``POST /v1/changes``, ``shadowgap change record``).

    ``scope`` is a segment key or a slice a router can see, both as ``dim=value`` pairs joined
    by ``|`` (a segment is in scope when its dimensions hold every pair). ``at`` is when the
    change went live, on the traffic's clock. ``proposal_id`` names the proposal it implements
    (opaque here); ``predicted`` is the effect that proposal predicted, when it gave one.
    ``verification`` is what :mod:`shadowgap.changes.verify` last found; ``alert_id`` the
    ``change_regressed`` alert it opened."""

    __tablename__ = "router_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    scope: Mapped[str] = mapped_column(String(512), index=True)
    at: Mapped[datetime] = mapped_column(index=True)
    description: Mapped[str] = mapped_column(Text, default="")
    proposal_id: Mapped[str | None] = mapped_column(String(128))
    predicted: Mapped[dict[str, Any] | None] = mapped_column(NullableJSON)
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
    recorded_by: Mapped[str] = mapped_column(String(256))
    status: Mapped[ChangeStatus] = mapped_column(EnumString(ChangeStatus, 16))
    verification: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    verified_at: Mapped[datetime | None]
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("alerts.id"))


# Every table whose rows point at one traffic event by ``event_pk`` and go when it goes (there
# are no foreign keys to the partitioned events table). Purge and row retention both delete
# them; slice features go with their day partition, and text copies are forgotten first.
EVENT_DEPENDANTS: tuple[Any, ...] = (
    PendingOriginal,
    SamplingDecision,
    ReverseSample,
    ShadowRun,
    Verdict,
)
