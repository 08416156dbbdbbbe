"""Production-like traffic from the real GSM8K pairs, through a simulated router.

Each event is a real GSM8K question with Mixtral's real answer (the cheap route) or GPT-4's
(the flagship route). Five tenants send traffic with realistic, unequal volumes; the small
one (3%) is where the regression happens.

The router works as real ones do: it first scores the request (its estimate of how likely the
flagship is to answer better, noisy: hard questions -- the ones the cheap model gets wrong --
score higher on average, N(0.575, 0.2) against N(0.33, 0.2)), then sends it cheap when the
score is below its threshold, 0.5. That sends about 80% of easy and 35% of hard questions
cheap. From the middle of the stream on, a broken routing rule raises the small tenant's
threshold to 0.9 (about 95% of its hard questions now go cheap), and its users start asking
more hard questions (50% instead of about 15%). The other four tenants are unchanged.

What shadowgap should say about the small tenant: its routing share and its quality gap rise,
and the attribution of the rise in expected flagship wins per request puts most of it (about
80%) on the router share (the raised threshold), the rest on the cheap path on comparable
requests (a score band now holds more hard questions: the score is noisy) and on the traffic
mix (more hard questions, which score higher).
"""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from statistics import NormalDist
from typing import Any

CHEAP_MODEL = "mistralai/Mixtral-8x7B-Instruct-v0.1"
FLAGSHIP_MODEL = "gpt-4-1106-preview"
TENANT_SHARES = {"acme": 0.45, "globex": 0.27, "initech": 0.15, "umbrella": 0.10, "hooli": 0.03}
REGRESSING_TENANT = "hooli"
# The router's score: its noisy estimate of the flagship's chance to answer better.
SCORE_EASY = (0.33, 0.2)  # mean, sd: P(score < 0.5) = 0.80 for easy questions
SCORE_HARD = (0.575, 0.2)  # P(score < 0.5) = 0.35 for hard ones
THRESHOLD = 0.5  # cheap when the score is below it
THRESHOLD_AFTER = 0.9  # the broken rule: P(score < 0.9) = 0.95 for hard questions
HARD_SHARE_AFTER = 0.5  # after the shift the small tenant asks more hard questions


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
        score = router_score(is_hard, rng.random())
        cheap = score < (THRESHOLD_AFTER if shifted else THRESHOLD)
        events.append(_event(i, tenant, pair, score, cheap, begin + step * i, rng))
    return SimulatedTraffic(events, shift_index, f"tenant={REGRESSING_TENANT}")


def router_score(is_hard: bool, u: float) -> float:
    """The router's score for a question from a uniform draw ``u``, drawn before (and
    deciding) the route: the normal quantile of ``u``, so the draw order of the seeded stream
    is the one the demo has always had."""
    mean, sd = SCORE_HARD if is_hard else SCORE_EASY
    z = NormalDist().inv_cdf(min(max(u, 1e-12), 1.0 - 1e-12))
    return round(min(0.999, max(0.0, mean + sd * z)), 3)


def _event(
    i: int, tenant: str, pair: Pair, score: float, cheap: bool, at: datetime, rng: random.Random
) -> dict[str, Any]:
    escalated = cheap and rng.random() < 0.03
    latency = rng.gauss(450, 60) if cheap else rng.gauss(1800, 250)
    if escalated:
        latency += rng.gauss(1800, 250)
    failed = rng.random() < 0.004
    # The draw that once made up the displayed score: kept, so that the seeded stream -- and
    # with it the demo's run and its tests -- keeps the shape it has always had.
    rng.random()
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
            "score": score,
            "reason": "score below threshold" if cheap else "score at or above threshold",
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
