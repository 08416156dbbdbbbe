"""Builders of native events for tests, from real GSM8K rows where answers matter."""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from tests.support.settings import GSM8K_CSV

CHEAP_MODEL = "mistralai/Mixtral-8x7B-Instruct-v0.1"
FLAGSHIP_MODEL = "gpt-4-1106-preview"


@lru_cache
def gsm8k_rows() -> list[dict[str, str]]:
    with GSM8K_CSV.open(newline="") as handle:
        return list(csv.DictReader(handle))


def native_event(
    event_id: str,
    *,
    tenant: str = "acme",
    tier: str = "cheap",
    row: int = 0,
    at: datetime | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    data = gsm8k_rows()[row % len(gsm8k_rows())]
    cheap = tier == "cheap"
    event: dict[str, Any] = {
        "event_id": event_id,
        "timestamp": (at or datetime(2026, 11, 2, 12, tzinfo=UTC)).isoformat(),
        "request": {
            "messages": [{"role": "user", "content": data["prompt"]}],
            "params": {"temperature": 0},
        },
        "route": {
            "tier": tier,
            "model": CHEAP_MODEL if cheap else FLAGSHIP_MODEL,
            "score": 0.2 if cheap else 0.8,
            "reason": "router score below threshold" if cheap else "hard query",
        },
        "answer": data[f"{CHEAP_MODEL}_response" if cheap else f"{FLAGSHIP_MODEL}_response"],
        "latency_ms": 420.0 if cheap else 1900.0,
        "ttft_ms": 90.0,
        "usage": {"prompt_tokens": 120, "completion_tokens": 80},
        "cost_usd": 0.0001 if cheap else 0.004,
        "status": "ok",
        "escalated": False,
        "attributes": {"tenant": tenant, "team": "support", "tags": ["surface:chat"]},
    }
    event.update(overrides)
    return event


def stream(n: int, *, start: datetime | None = None, **kwargs: Any) -> list[dict[str, Any]]:
    begin = start or datetime(2026, 11, 2, tzinfo=UTC)
    return [
        native_event(f"evt-{i}", row=i, at=begin + timedelta(seconds=i), **kwargs) for i in range(n)
    ]
