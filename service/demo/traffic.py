"""Production-like traffic from the real GSM8K pairs, through a simulated router.

Each event is a real GSM8K question with Mixtral's real answer (the cheap route) or GPT-4's
(the flagship route). Five tenants send traffic with realistic, unequal volumes; the small
one (3%) is where the regression happens: from the middle of the stream on, a broken routing
rule sends its hard questions (the ones the cheap model gets wrong) to the cheap model, and its
users start asking more of them. That is a routing-share shift and a cheap-path quality drop
in one small segment, with the other four segments unchanged.
"""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

CHEAP_MODEL = "mistralai/Mixtral-8x7B-Instruct-v0.1"
FLAGSHIP_MODEL = "gpt-4-1106-preview"
TENANT_SHARES = {"acme": 0.45, "globex": 0.27, "initech": 0.15, "umbrella": 0.10, "hooli": 0.03}
REGRESSING_TENANT = "hooli"
P_CHEAP_EASY = 0.80  # the router sends most questions the cheap model can answer to it
P_CHEAP_HARD = 0.35  # and keeps most hard ones on the flagship
HARD_SHARE_AFTER = 0.5  # after the shift the small tenant asks more hard questions...
P_CHEAP_HARD_AFTER = 0.95  # ...and the broken rule sends nearly all of them to the cheap model


@dataclass(frozen=True)
class Pair:
    prompt: str
    cheap_answer: str
    flagship_answer: str
    cheap_correct: bool
    flagship_correct: bool


def load_pairs(csv_path: Path) -> list[Pair]:
    with csv_path.open(newline="") as handle:
        return [
            Pair(
                prompt=row["prompt"],
                cheap_answer=row[f"{CHEAP_MODEL}_response"],
                flagship_answer=row[f"{FLAGSHIP_MODEL}_response"],
                cheap_correct=row[CHEAP_MODEL] == "True",
                flagship_correct=row[FLAGSHIP_MODEL] == "True",
            )
            for row in csv.DictReader(handle)
        ]


@dataclass(frozen=True)
class SimulatedTraffic:
    events: list[dict[str, Any]]
    shift_index: int  # index of the first event after the regression starts
    regressing_segment: str


def simulate(
    pairs: list[Pair],
    n_events: int = 48_000,
    seed: int = 7,
    days: float = 14.0,
    start: datetime | None = None,
    shift_at: float = 0.5,
) -> SimulatedTraffic:
    rng = random.Random(seed)
    easy = [p for p in pairs if p.cheap_correct]
    hard = [p for p in pairs if not p.cheap_correct]
    hard_share = len(hard) / len(pairs)
    tenants = list(TENANT_SHARES)
    weights = list(TENANT_SHARES.values())
    begin = start or datetime.now(UTC).replace(microsecond=0) - timedelta(days=days)
    step = timedelta(days=days) / n_events
    shift_index = int(n_events * shift_at)
    events = []
    for i in range(n_events):
        tenant = rng.choices(tenants, weights)[0]
        shifted = tenant == REGRESSING_TENANT and i >= shift_index
        is_hard = rng.random() < (HARD_SHARE_AFTER if shifted else hard_share)
        pair = rng.choice(hard if is_hard else easy)
        p_cheap = (P_CHEAP_HARD_AFTER if shifted else P_CHEAP_HARD) if is_hard else P_CHEAP_EASY
        cheap = rng.random() < p_cheap
        events.append(_event(i, tenant, pair, cheap, begin + step * i, rng))
    return SimulatedTraffic(events, shift_index, f"tenant={REGRESSING_TENANT}")


def _event(
    i: int, tenant: str, pair: Pair, cheap: bool, at: datetime, rng: random.Random
) -> dict[str, Any]:
    escalated = cheap and rng.random() < 0.03
    latency = rng.gauss(450, 60) if cheap else rng.gauss(1800, 250)
    if escalated:
        latency += rng.gauss(1800, 250)
    failed = rng.random() < 0.004
    prompt_tokens = 60 + len(pair.prompt) // 4
    answer = pair.cheap_answer if cheap else pair.flagship_answer
    completion_tokens = len(answer) // 4
    price = (0.0006, 0.0006) if cheap else (0.01, 0.03)
    return {
        "event_id": f"demo-{i:06d}",
        "timestamp": at.isoformat(),
        "request": {
            "messages": [{"role": "user", "content": pair.prompt}],
            "params": {"temperature": 0, "max_tokens": 512},
        },
        "route": {
            "tier": "cheap" if cheap else "flagship",
            "model": CHEAP_MODEL if cheap else FLAGSHIP_MODEL,
            "score": round(rng.random() * 0.5 + (0.0 if cheap else 0.5), 3),
            "reason": "score below threshold" if cheap else "score above threshold",
        },
        "answer": None if failed else answer,
        "latency_ms": round(max(latency, 50.0), 1),
        "ttft_ms": round(max(latency * 0.2, 20.0), 1),
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": 0 if failed else completion_tokens,
        },
        "cost_usd": round((prompt_tokens * price[0] + completion_tokens * price[1]) / 1000, 6),
        "status": "error" if failed else "ok",
        "error": "upstream timeout" if failed else None,
        "escalated": escalated,
        "attributes": {
            "tenant": tenant,
            "team": f"{tenant}-apps",
            "tags": ["surface:chat", "lang:en"],
        },
    }
