"""Synthetic traffic for report and dashboard tests: events, shadow runs, verdicts, alerts.

Each segment gets one :class:`Profile` per week, so a test states a shift plainly ("week two:
gap rate 0.4, latency x2") and the generator draws everything with a seeded numpy generator.
Rows go in with Core executemany and explicit ids, which keeps 10,000-event fixtures quick.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import FastAPI
from sqlalchemy import Engine, Integer, cast, func, insert, select
from sqlalchemy.orm import Session, sessionmaker

from shadowgap.api import errors
from shadowgap.api.auth import security
from shadowgap.api.dashboard.pages import router
from shadowgap.api.deps import db_session, settings
from shadowgap.api.routes import login
from shadowgap.config import Settings
from shadowgap.db import models
from shadowgap.db.engine import make_engine
from tests.support.settings import API_KEYS

WEEK = timedelta(days=7)

# The weekly report's two weeks (tests/reporting/): one segment degrades in week two.
START = datetime(2026, 11, 2, tzinfo=UTC)
SHIFTED = "tenant=acme"
STABLE = "tenant=globex"
SMALL = "tenant=initech"
QUIET = "tenant=hooli"


@dataclass(frozen=True)
class Profile:
    events: int = 1000
    cheap_share: float = 0.7
    gap_rate: float = 0.1  # P(flagship beats the cheap answer) on a judged pair
    noise_rate: float = 0.05  # P(flagship beats its own replicate)
    latency_ms: float = 400.0  # median; log-normal spread below
    latency_sigma: float = 0.35
    cheap_cost_usd: float = 0.0005
    flagship_cost_usd: float = 0.01
    error_rate: float = 0.01
    escalation_rate: float = 0.02
    inclusion_probability: float = 0.25
    noise_fraction: float = 0.3


def _next_id(session: Session, column: Any) -> int:
    return int(session.execute(select(func.coalesce(func.max(column), 0))).scalar_one()) + 1


def ensure_segment(session: Session, key: str) -> int:
    existing = session.execute(
        select(models.Segment.id).where(models.Segment.key == key)
    ).scalar_one_or_none()
    if existing is not None:
        return existing
    name, _, value = key.partition("=")
    segment = models.Segment(key=key, dimensions={name: value}, event_count=0, cheap_count=0)
    session.add(segment)
    session.flush()
    return segment.id


def populate(
    session: Session,
    segments: dict[str, list[Profile]],
    start: datetime,
    *,
    seed: int = 0,
    week: timedelta = WEEK,
) -> dict[str, int]:
    """Write each segment's weeks of traffic from ``start``; returns segment ids by key."""
    rng = np.random.default_rng(seed)
    ids: dict[str, int] = {}
    for key, weeks in segments.items():
        seg_id = ensure_segment(session, key)
        ids[key] = seg_id
        for index, profile in enumerate(weeks):
            _write_week(session, rng, seg_id, key, profile, start + index * week, week)
        _refresh_counters(session, seg_id)
    session.flush()
    return ids


def _write_week(
    session: Session,
    rng: np.random.Generator,
    seg_id: int,
    key: str,
    p: Profile,
    begin: datetime,
    span: timedelta,
) -> None:
    n = p.events
    if n == 0:
        return
    first = _next_id(session, models.TrafficEvent.id)
    offsets = np.sort(rng.uniform(0, span.total_seconds(), n))
    cheap = rng.random(n) < p.cheap_share
    latency = p.latency_ms * np.exp(rng.normal(0, p.latency_sigma, n))
    cost = np.where(
        cheap,
        rng.gamma(4, p.cheap_cost_usd / 4, n),
        rng.gamma(4, p.flagship_cost_usd / 4, n),
    )
    errors = rng.random(n) < p.error_rate
    escalated = rng.random(n) < p.escalation_rate
    sampled = cheap & (rng.random(n) < p.inclusion_probability)
    noisy = sampled & (rng.random(n) < p.noise_fraction)
    gap_win = rng.random(n) < p.gap_rate
    noise_win = rng.random(n) < p.noise_rate

    events, runs, verdicts = [], [], []
    for i in range(n):
        pk = first + i
        at = begin + timedelta(seconds=float(offsets[i]))
        prompt = f"[{key}] question {pk}: what is {pk % 97} + {pk % 13}?"
        events.append(
            {
                "id": pk,
                "event_id": f"syn-{seg_id}-{pk}",
                "segment_id": seg_id,
                "source_format": "native",
                "occurred_at": at,
                "received_at": at,
                "route_tier": "cheap" if cheap[i] else "flagship",
                "route_model": "small-model" if cheap[i] else "big-model",
                "route_score": 0.2 if cheap[i] else 0.8,
                "route_reason": None,
                "is_cheap": bool(cheap[i]),
                "request": {"messages": [{"role": "user", "content": prompt}], "params": {}},
                "prompt_hash": hashlib.sha256(prompt.encode()).hexdigest(),
                "answer": f"cheap answer {pk}" if cheap[i] else f"flagship answer {pk}",
                "latency_ms": float(latency[i]),
                "ttft_ms": float(latency[i]) / 5,
                "prompt_tokens": 100,
                "completion_tokens": 60,
                "cost_usd": float(cost[i]),
                "status": "error" if errors[i] else "ok",
                "error": "upstream 500" if errors[i] else None,
                "refused": False,
                "escalated": bool(escalated[i]),
                "attributes": {},
            }
        )
        if not sampled[i]:
            continue
        replicates = (0, 1) if noisy[i] else (0,)
        for rep in replicates:
            runs.append(
                {
                    "event_pk": pk,
                    "replicate": rep,
                    "status": "ok",
                    "client": "recorded",
                    "model": "big-model",
                    "answer": f"flagship answer {pk}" + (" (replicate)" if rep else ""),
                    "latency_ms": 1500.0,
                    "cost_usd": p.flagship_cost_usd,
                    "created_at": at,
                }
            )
        verdicts.append(_verdict(pk, seg_id, "gap", bool(gap_win[i]), p, at))
        if noisy[i]:
            verdicts.append(_verdict(pk, seg_id, "noise", bool(noise_win[i]), p, at))
    session.execute(insert(models.TrafficEvent), events)
    if runs:
        session.execute(insert(models.ShadowRun), runs)
    if verdicts:
        session.execute(insert(models.Verdict), verdicts)


def _verdict(
    pk: int, seg_id: int, kind: str, flagship_won: bool, p: Profile, at: datetime
) -> dict[str, Any]:
    loser = "cheap" if kind == "gap" else "replicate"
    return {
        "event_pk": pk,
        "segment_id": seg_id,
        "kind": kind,
        "judge": "answer-match",
        "winner": "flagship" if flagship_won else "tie",
        "gap_score": 1.0 if flagship_won else 0.0,
        "inclusion_probability": p.inclusion_probability,
        "raw": {},
        "rationale": (
            f"flagship answer is correct, {loser} answer is wrong"
            if flagship_won
            else "both answers agree"
        ),
        "created_at": at,
    }


def _refresh_counters(session: Session, seg_id: int) -> None:
    E = models.TrafficEvent
    total, cheap, last, first = session.execute(
        select(
            func.count(),
            func.coalesce(func.sum(cast(E.is_cheap, Integer)), 0),
            func.max(E.occurred_at),
            func.min(E.occurred_at),
        ).where(E.segment_id == seg_id)
    ).one()
    sampled = session.execute(
        select(func.count())
        .select_from(models.Verdict)
        .where(models.Verdict.segment_id == seg_id, models.Verdict.kind == "gap")
    ).scalar_one()
    segment = session.get(models.Segment, seg_id)
    assert segment is not None
    segment.event_count = int(total)
    segment.cheap_count = int(cheap)
    segment.sampled_count = int(sampled)
    # max() keeps the column's type, so this is already an aware UTC datetime. The synthetic
    # events arrive as they happen: arrival and event times are the same.
    if first is not None:
        segment.first_seen_at = segment.first_occurred_at = first
    segment.last_seen_at = segment.last_occurred_at = last


def add_alert(
    session: Session,
    seg_id: int,
    signal: str,
    opened_at: datetime,
    *,
    resolved_at: datetime | None = None,
    severity: str = "error",
) -> models.Alert:
    drift = models.DriftEvent(
        segment_id=seg_id,
        signal=signal,
        detector="page_hinkley",
        detected_at=opened_at,
        sample_index=100,
        before_mean=0.1,
        before_n=500,
        after_mean=0.4,
        after_n=120,
        statistic=12.0,
        threshold=8.0,
        details={},
    )
    session.add(drift)
    session.flush()
    alert = models.Alert(
        segment_id=seg_id,
        signal=signal,
        status="resolved" if resolved_at else "open",
        severity=severity,
        drift_event_id=drift.id,
        evidence={"before": {"value": 0.1, "n": 500}, "after": {"value": 0.4, "n": 120}},
        opened_at=opened_at,
        resolved_at=resolved_at,
        resolved_by="auto" if resolved_at else None,
    )
    session.add(alert)
    session.flush()
    return alert


DASHBOARD_SHIFTED = "tenant=acme"
DASHBOARD_STABLE = "tenant=globex"
DASHBOARD_SMALL = "tenant=initech"
DASHBOARD_SLASHED = "team=ops/eu west"


def dashboard_dataset(session: Session, now: datetime, *, seed: int = 5) -> dict[str, int]:
    """Two weeks ending at ``now``: acme degrades in week two (quality gap, latency), globex
    is stable, initech is small, and one key holds a slash and a space. Drift events and
    alerts in every state, and one stored report."""
    start = now - 2 * WEEK
    ids = populate(
        session,
        {
            DASHBOARD_SHIFTED: [Profile(), Profile(gap_rate=0.45, latency_ms=900)],
            DASHBOARD_STABLE: [Profile(), Profile()],
            DASHBOARD_SMALL: [Profile(events=150), Profile(events=150)],
            DASHBOARD_SLASHED: [Profile(events=300, cheap_share=0.4), Profile(events=300)],
        },
        start,
        seed=seed,
    )
    for signal in ("quality_gap", "latency"):
        add_alert(session, ids[DASHBOARD_SHIFTED], signal, start + WEEK + timedelta(hours=20))
    add_alert(
        session,
        ids[DASHBOARD_STABLE],
        "latency",
        start + timedelta(days=3),
        resolved_at=start + timedelta(days=4),
        severity="warning",
    )
    acked = add_alert(session, ids[DASHBOARD_SMALL], "error_rate", now - timedelta(days=2))
    acked.status = "acknowledged"
    acked.acknowledged_at = now - timedelta(days=1)
    session.add(
        models.Report(
            period_start=now - WEEK,
            period_end=now,
            summary={"totals": {"segments": 4, "segments_with_drift": 1, "events": 4000}},
            html="<!DOCTYPE html><html><head><title>stored report</title></head>"
            "<body><h1>Stored weekly report</h1></body></html>",
        )
    )
    session.flush()
    return ids


def many_segments(session: Session, n: int, now: datetime, *, seed: int = 9) -> None:
    """``n`` segments with counters and two events each (for the overview's scale test)."""
    rng = np.random.default_rng(seed)
    first_seg = _next_id(session, models.Segment.id)
    first_event = _next_id(session, models.TrafficEvent.id)
    segments, events = [], []
    for i in range(n):
        seg = first_seg + i
        volume = int(rng.integers(1, 100_000))
        segments.append(
            {
                "id": seg,
                "key": f"tenant=t{i:05d}",
                "dimensions": {"tenant": f"t{i:05d}"},
                "event_count": volume,
                "cheap_count": int(volume * rng.random()),
                "sampled_count": 0,
                "first_seen_at": now - timedelta(days=30),
                "last_seen_at": now - timedelta(minutes=int(rng.integers(0, 10_000))),
            }
        )
        for j in range(2):
            pk = first_event + 2 * i + j
            at = now - timedelta(minutes=int(rng.integers(1, 5_000)))
            events.append(
                {
                    "id": pk,
                    "event_id": f"many-{pk}",
                    "segment_id": seg,
                    "source_format": "native",
                    "occurred_at": at,
                    "received_at": at,
                    "route_tier": "cheap",
                    "route_model": "small-model",
                    "is_cheap": True,
                    "request": {"messages": [{"role": "user", "content": "hi"}]},
                    "prompt_hash": f"{pk:064d}",
                    "latency_ms": float(rng.lognormal(6, 0.5)),
                    "cost_usd": 0.001,
                    "status": "ok",
                    "refused": False,
                    "escalated": False,
                    "attributes": {},
                }
            )
    session.execute(insert(models.Segment), segments)
    session.execute(insert(models.TrafficEvent), events)
    session.flush()


@contextmanager
def dashboard_engine(path: Path, now: datetime) -> Iterator[Engine]:
    """A SQLite file at ``path`` holding :func:`dashboard_dataset` at ``now``: the database of
    the page tests and the browser tests."""
    engine = make_engine(f"sqlite:///{path}")
    models.Base.metadata.create_all(engine)
    with Session(engine) as session:
        dashboard_dataset(session, now)
        session.commit()
    try:
        yield engine
    finally:
        engine.dispose()


def dashboard_settings(**overrides: Any) -> Settings:
    """Settings with the test keys (tests/support/settings.py), not read from the environment."""
    return Settings(_env_file=None, api_keys=API_KEYS, **overrides)  # type: ignore[call-arg]


def dashboard_app(
    engine: Engine, config: Settings | None = None
) -> tuple[FastAPI, sessionmaker[Session]]:
    """The dashboard and sign-in routers with the production headers and sign-in rules,
    reading the given database (for page and browser tests)."""
    factory = sessionmaker(bind=engine, expire_on_commit=False)
    config = config or dashboard_settings()

    def session() -> Iterator[Session]:
        with factory() as s:
            yield s

    app = FastAPI()
    security.install(app)
    errors.install(app)
    app.include_router(router)
    app.include_router(login.router)
    app.dependency_overrides[db_session] = session
    app.dependency_overrides[settings] = lambda: config
    return app, factory
