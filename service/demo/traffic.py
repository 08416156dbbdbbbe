"""Production-like traffic from the real GSM8K pairs, through a simulated router.

Each event is a real GSM8K question with Mixtral's real answer (the cheap route) or GPT-4's
(the flagship route). Five tenants send traffic with realistic, unequal volumes; the small
one (3%) is where the regression happens.

The router works as real ones do: it scores each request first (its estimate of the flagship's
chance to answer better) and sends it cheap when the score is below its threshold, 0.5. The
score is calibrated: a request scored ``s`` is a hard question (one the cheap model gets
wrong) with probability ``s**2``, the same for every tenant and period. Requests score
N(0.4, 0.2) (clipped to [0, 1)), so about 70% go cheap and a fifth of the questions are hard.
From the middle of the stream on, a broken routing rule raises the small tenant's threshold to
0.9, and its users start asking harder questions: their scores move to N(0.6, 0.2).

What shadowgap should say about the small tenant: its routing share and its quality gap rise,
and the attribution of the rise in expected flagship wins per request puts most of it (about
three quarters or more) on the router share: the harder questions cost quality only because
the raised threshold sends them cheap (under the old one most would have gone to the
flagship), so the Shapley split gives the mix a small part; the cheap path on comparable
requests gets a small, noisy part (nothing changed about the cheap model: within a score band
the questions are as hard as before).
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
# The router's score (mean, sd of a normal clipped to [0, 1)): its estimate of the flagship's
# chance to answer better; a request scored s is hard with probability s**2.
SCORE = (0.4, 0.2)
SCORE_AFTER = (0.6, 0.2)  # after the shift the small tenant asks harder questions...
THRESHOLD = 0.5  # cheap when the score is below it
THRESHOLD_AFTER = 0.9  # ...and the broken rule sends nearly all of them cheap


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
    tenants = list(TENANT_SHARES)
    weights = list(TENANT_SHARES.values())
    begin = start or datetime.now(UTC).replace(microsecond=0) - timedelta(days=days)
    step = timedelta(days=days) / n_events
    shift_index = int(n_events * shift_at)
    events = []
    for i in range(n_events):
        tenant = rng.choices(tenants, weights)[0]
        shifted = tenant == REGRESSING_TENANT and i >= shift_index
        score = router_score(SCORE_AFTER if shifted else SCORE, rng.random())
        is_hard = rng.random() < score**2
        pair = rng.choice(hard if is_hard else easy)
        cheap = score < (THRESHOLD_AFTER if shifted else THRESHOLD)
        events.append(_event(i, tenant, pair, score, cheap, begin + step * i, rng))
    return SimulatedTraffic(events, shift_index, f"tenant={REGRESSING_TENANT}")


def router_score(distribution: tuple[float, float], u: float) -> float:
    """The router's score from a uniform draw ``u`` (the normal quantile, clipped): drawn
    first, it decides the route and how hard the question is."""
    mean, sd = distribution
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
    # The draw that once made up the displayed score: kept, so that every later draw of the
    # seeded stream (latencies, failures) stays where it was.
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
