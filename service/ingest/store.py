"""Storing a validated batch: segments, events (deduplicated), sampling decisions.

Everything happens in the caller's transaction, so a batch is all-or-nothing. Redelivered
event ids are skipped by the unique constraint (``ON CONFLICT DO NOTHING``), which also makes
concurrent deliveries of the same event safe.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Table, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from service import models, sampling
from service.config import Settings
from service.costs import budget_exhausted
from service.schemas import TrafficEvent
from service.segments import segment_of

TOTALS_TTL_SECONDS = 2.0
BUDGET_TTL_SECONDS = 10.0


@dataclass
class StoredBatch:
    accepted: int
    new: int
    duplicates: int
    decision_ids: list[int] = field(default_factory=list)
    segment_ids: set[int] = field(default_factory=set)
    budget_exhausted: bool = False


def prompt_hash(text: str) -> str:
    """Fingerprint of a prompt, whitespace-insensitive (recorded answers are keyed by it)."""
    return hashlib.sha256(" ".join(text.split()).encode()).hexdigest()


def is_cheap(event: TrafficEvent, settings: Settings) -> bool:
    cheap = {name.lower() for name in settings.cheap_routes}
    return event.route.tier.lower() in cheap or event.route.model.lower() in cheap


def insert_ignoring_conflicts(session: Session, table: Table, index_elements: list[str]) -> Any:
    """An INSERT that skips rows violating the given unique key, on PostgreSQL and SQLite."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return insert(table).on_conflict_do_nothing(index_elements=index_elements)


class _Cached:
    """A value recomputed at most every ``ttl`` seconds per process: the totals that steer the
    sampling allocation and the budget check need not be exact, and a query per request
    would dominate single-event ingest."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._value: Any = None
        self._at = -1e18
        self._lock = threading.Lock()

    def get(self, compute: Any) -> Any:
        with self._lock:
            now = time.monotonic()
            if now - self._at > self.ttl:
                self._value = compute()
                self._at = now
            return self._value

    def clear(self) -> None:
        with self._lock:
            self._at = -1e18


_totals_cache = _Cached(TOTALS_TTL_SECONDS)
_budget_cache = _Cached(BUDGET_TTL_SECONDS)


def clear_caches() -> None:
    _totals_cache.clear()
    _budget_cache.clear()


def traffic_totals(session: Session) -> sampling.TrafficTotals:
    seg = models.Segment
    row = session.execute(
        select(
            func.coalesce(func.sum(seg.event_count), 0),
            func.coalesce(func.sum(seg.cheap_count), 0),
            func.count().filter(seg.cheap_count > 0),
        )
    ).one()
    return sampling.TrafficTotals(int(row[0]), int(row[1]), int(row[2]))


def _segment_ids(
    session: Session, keyed: dict[str, dict[str, str]], now: datetime
) -> dict[str, tuple[int, int]]:
    """Segment key -> (id, cheap_count before this batch), creating missing segments."""
    table = models.Segment.__table__
    rows = [
        {
            "key": key,
            "dimensions": dims,
            "event_count": 0,
            "cheap_count": 0,
            "sampled_count": 0,
            "first_seen_at": now,
        }
        for key, dims in keyed.items()
    ]
    session.execute(insert_ignoring_conflicts(session, table, ["key"]), rows)
    found = session.execute(
        select(models.Segment.key, models.Segment.id, models.Segment.cheap_count).where(
            models.Segment.key.in_(list(keyed))
        )
    ).all()
    return {key: (seg_id, cheap) for key, seg_id, cheap in found}


def _event_row(event: TrafficEvent, segment_id: int, source: str, cheap: bool, now: datetime) -> dict[str, Any]:
    return {
        "event_id": event.event_id,
        "segment_id": segment_id,
        "source_format": source,
        "occurred_at": event.timestamp,
        "received_at": now,
        "route_tier": event.route.tier,
        "route_model": event.route.model,
        "route_score": event.route.score,
        "route_reason": event.route.reason,
        "is_cheap": cheap,
        "request": event.request.model_dump(mode="json"),
        "prompt_hash": prompt_hash(event.prompt_text()),
        "answer": event.answer,
        "latency_ms": event.latency_ms,
        "ttft_ms": event.ttft_ms,
        "prompt_tokens": event.usage.prompt_tokens,
        "completion_tokens": event.usage.completion_tokens,
        "cost_usd": event.cost_usd,
        "status": event.status,
        "error": event.error,
        "refused": event.refused,
        "escalated": event.escalated,
        "attributes": event.attributes.model_dump(mode="json"),
    }


def store_events(
    session: Session, events: list[TrafficEvent], source: str, settings: Settings, now: datetime
) -> StoredBatch:
    """Store a validated batch and decide which new cheap events are shadow-sampled."""
    unique: dict[str, TrafficEvent] = {}
    for event in events:
        unique.setdefault(event.event_id, event)
    batch = StoredBatch(accepted=len(events), new=0, duplicates=0)
    if not unique:
        return batch

    keyed: dict[str, dict[str, str]] = {}
    event_keys: dict[str, str] = {}
    for event in unique.values():
        key, dims = segment_of(event, settings.segment_dimensions)
        keyed[key] = dims
        event_keys[event.event_id] = key
    segments = _segment_ids(session, keyed, now)

    cheap_flags = {e.event_id: is_cheap(e, settings) for e in unique.values()}
    rows = [
        _event_row(e, segments[event_keys[e.event_id]][0], source, cheap_flags[e.event_id], now)
        for e in unique.values()
    ]
    table = models.TrafficEvent.__table__
    stmt = insert_ignoring_conflicts(session, table, ["event_id"]).returning(
        table.c.id, table.c.event_id
    )
    inserted = {event_id: pk for pk, event_id in session.execute(stmt, rows).all()}
    batch.new = len(inserted)
    batch.duplicates = len(events) - batch.new

    per_segment: dict[int, dict[str, int]] = defaultdict(
        lambda: {"events": 0, "cheap": 0, "sampled": 0}
    )
    for event_id in inserted:
        counts = per_segment[segments[event_keys[event_id]][0]]
        counts["events"] += 1
        counts["cheap"] += int(cheap_flags[event_id])

    batch.decision_ids, batch.budget_exhausted = _sample(
        session, inserted, unique, cheap_flags, event_keys, segments, per_segment, settings, now
    )
    # Sorted by id so that concurrent batches lock segment rows in the same order.
    for segment_id in sorted(per_segment):
        counts = per_segment[segment_id]
        seg = models.Segment
        session.execute(
            update(seg)
            .where(seg.id == segment_id)
            .values(
                event_count=seg.event_count + counts["events"],
                cheap_count=seg.cheap_count + counts["cheap"],
                sampled_count=seg.sampled_count + counts["sampled"],
                # Arrival time, not event time: replays of history must not look stale.
                last_event_at=now,
            )
        )
    batch.segment_ids = set(per_segment)
    return batch


def _sample(
    session: Session,
    inserted: dict[str, int],
    unique: dict[str, TrafficEvent],
    cheap_flags: dict[str, bool],
    event_keys: dict[str, str],
    segments: dict[str, tuple[int, int]],
    per_segment: dict[int, dict[str, Any]],
    settings: Settings,
    now: datetime,
) -> tuple[list[int], bool]:
    candidates = [event_id for event_id in inserted if cheap_flags[event_id]]
    if not candidates:
        return [], False
    if settings.daily_budget_usd is not None and _budget_cache.get(
        lambda: budget_exhausted(session, settings, now)
    ):
        return [], True
    totals = _totals_cache.get(lambda: traffic_totals(session))
    seen_cheap: dict[int, int] = {}
    decisions = []
    for event_id in candidates:
        segment_id, cheap_before = segments[event_keys[event_id]]
        seen = seen_cheap.get(segment_id, cheap_before)
        seen_cheap[segment_id] = seen + 1
        probability = sampling.inclusion_probability(seen, totals, settings)
        decision = sampling.decide(event_id, probability, settings)
        if not decision.sampled:
            continue
        per_segment[segment_id]["sampled"] += 1
        decisions.append(
            {
                "event_pk": inserted[event_id],
                "segment_id": segment_id,
                "inclusion_probability": probability,
                "hash_value": decision.hash_value,
                "replicates": decision.replicates,
                "decided_at": now,
                "enqueued_at": None,
            }
        )
    if not decisions:
        return [], False
    table = models.SamplingDecision.__table__
    ids = session.execute(table.insert().returning(table.c.id), decisions).scalars().all()
    return list(ids), False
