"""Alert tests' data: settings, secrets, seeded segments, events, drift events and alerts, and
one delivery attempt as the task makes it."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from shadowgap.alerts.delivery import claim_delivery, record_outcome, send_claimed
from shadowgap.config import Settings
from shadowgap.db.models import Alert, DriftEvent, Segment, ShadowRun, TrafficEvent, Verdict
from shadowgap.errors import DeliveryError

NOW = datetime(2025, 6, 2, 12, 0, tzinfo=UTC)
SLACK_PATH = "/services/T0SECRET/B0SECRET/xoxSlackTokenSecret123"
ROUTING_KEY = "R0UT1NGKEYSECRET0123456789abcdef"  # 32 characters, like a real integration key
WEBHOOK_SECRET = "whsec-very-secret-value"


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": f"sqlite:///{tmp_path}/alerts.db",
        "dashboard_url": "http://dash.example",
        "alert_outbox_dir": str(tmp_path / "outbox"),
        "slack_webhook_url": None,
        "pagerduty_routing_key": None,
        "webhook_url": None,
        "webhook_secret": None,
        "renotify_hours": 4.0,
        "resolve_after_samples": 50,
        "no_data_minutes": 60.0,
        "delivery_max_age_hours": 24.0,
    }
    values.update(overrides)
    return Settings(**values)


def add_segment(session: Session, key: str, event_count: int, **extra: Any) -> Segment:
    segment = Segment(
        key=key,
        dimensions=dict(part.split("=", 1) for part in key.split(",") if "=" in part),
        event_count=event_count,
        cheap_count=event_count,
        first_seen_at=NOW - timedelta(days=30),
        **extra,
    )
    session.add(segment)
    session.flush()
    return segment


def add_event(
    session: Session,
    segment: Segment,
    n: int,
    *,
    answer: str = "cheap answer",
    winner: str | None = None,
    gap: float = 0.0,
    rationale: str = "",
    flagship: str | None = None,
    when: datetime = NOW,
) -> TrafficEvent:
    event = TrafficEvent(
        event_id=f"{segment.key}-{n}",
        segment_id=segment.id,
        source_format="native",
        occurred_at=when,
        route_tier="cheap",
        route_model="small-model",
        is_cheap=True,
        request={"messages": [{"role": "user", "content": f"question {n} for {segment.key}"}]},
        prompt_hash=hashlib.sha256(f"{segment.key}{n}".encode()).hexdigest(),
        answer=answer,
        latency_ms=120.0,
        status="ok",
        attributes={},
    )
    session.add(event)
    session.flush()
    if winner is not None:
        session.add(
            ShadowRun(
                event_pk=event.id,
                replicate=0,
                status="ok",
                client="recorded",
                model="flagship-model",
                answer=flagship or f"flagship answer {n}",
            )
        )
        session.add(
            Verdict(
                event_pk=event.id,
                segment_id=segment.id,
                kind="gap",
                judge="answer-match",
                winner=winner,
                gap_score=gap,
                inclusion_probability=0.5,
                raw={},
                rationale=rationale,
            )
        )
        session.flush()
    return event


def add_drift(
    session: Session,
    segment: Segment,
    *,
    signal: str = "quality_gap",
    before: float | None = 0.05,
    after: float | None = 0.45,
    before_n: int = 800,
    after_n: int = 200,
    at_event_pk: int | None = None,
    sample_index: int = 1000,
    details: dict[str, Any] | None = None,
    when: datetime = NOW,
    statistic: float = 12.5,
) -> DriftEvent:
    drift = DriftEvent(
        segment_id=segment.id,
        signal=signal,
        detector="page_hinkley",
        detected_at=when,
        at_event_pk=at_event_pk,
        sample_index=sample_index,
        before_mean=before,
        before_n=before_n,
        after_mean=after,
        after_n=after_n,
        statistic=statistic,
        threshold=10.0,
        details=details if details is not None else {"before_std": 0.2, "after_std": 0.3},
    )
    session.add(drift)
    session.flush()
    return drift


def attempt_delivery(session: Session, delivery_id: int, settings: Settings, now: datetime) -> str:
    """One send as the alerts.deliver task makes it: claim and commit, call the channel with no
    transaction open, record and commit. A transient failure is raised after it is recorded,
    as the task then retries."""
    claim = claim_delivery(session, delivery_id, settings, now)
    session.commit()
    if isinstance(claim, str):
        return claim
    status_code: int | None = None
    error: DeliveryError | None = None
    try:
        status_code = send_claimed(claim, settings)
    except DeliveryError as exc:
        error = exc
    status = record_outcome(session, claim, settings, now, status_code=status_code, error=error)
    session.commit()
    if error is not None and status == "pending":
        raise error
    return status


def make_alert(signal: str = "quality_gap", severity: str = "critical", **extra: Any) -> Alert:
    values: dict[str, Any] = {
        "id": 42,
        "segment_id": 7,
        "signal": signal,
        "status": "open",
        "severity": severity,
        "opened_at": NOW,
        "last_notified_at": NOW,
    }
    values.update(extra)
    return Alert(**values)
