"""Requests of a segment spread over event time, with chosen shares slow and failed, for the
latency and error-rate SLO tests (one bulk insert: thousands of rows in a test)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from shadowgap.db.models import Segment, TrafficEvent


def add_requests(
    session: Session,
    segment: Segment,
    *,
    n: int,
    end: datetime,
    hours: float,
    slow_per_1000: int = 0,
    failed_per_1000: int = 0,
    tag: str = "",
) -> None:
    """``n`` events evenly over the ``hours`` before ``end``: ``slow_per_1000`` in 1,000 take
    20 s (the rest 800 ms) and ``failed_per_1000`` fail, each spread evenly through the run
    (a request both would pick is slow only), so every window of the run holds the shares to
    within a request or two."""
    step = timedelta(hours=hours) / n
    rows: list[dict[str, Any]] = []
    for i in range(n):
        slow = (i + 1) * slow_per_1000 // 1000 > i * slow_per_1000 // 1000
        failed = not slow and (i + 1) * failed_per_1000 // 1000 > i * failed_per_1000 // 1000
        rows.append(
            {
                "event_id": f"{segment.key}-{tag}{i}",
                "segment_id": segment.id,
                "source_format": "native",
                "occurred_at": end - step * (n - i),
                "route_tier": "cheap" if i % 2 else "flagship",
                "route_model": "small-model" if i % 2 else "big-model",
                "is_cheap": bool(i % 2),
                "request": {"messages": [{"role": "user", "content": f"q{i}"}]},
                "prompt_hash": f"{i:064x}",
                "answer": None if failed else "a",
                "latency_ms": 20_000.0 if slow else 800.0,
                "status": "error" if failed else "ok",
                "attributes": {},
            }
        )
    for start in range(0, n, 5000):
        session.execute(insert(TrafficEvent), rows[start : start + 5000])
    session.flush()
