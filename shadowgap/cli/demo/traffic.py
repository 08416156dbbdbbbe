"""Production-like traffic from the real GSM8K pairs, through a simulated router.

Each event is a real GSM8K question with Mixtral's real answer (the cheap route) or GPT-4's
(the flagship route). Five tenants send traffic with realistic, unequal volumes; the small
one (3%) is where the regression happens. A sixth, agentic tenant sends tool-calling requests
from BFCL (``agentic.py``, merged in by time when :func:`simulate` is given its pool), whose
cheap model breaks at the same point; this module's description is of the five.

The router works as real ones do: it scores each request first (its estimate of the chance
that the flagship answers better) and sends it cheap when the score is below its threshold,
0.5. The score depends on the question: its log-odds are normal, one ``SCORE_SD`` wide and
centred so that 80% of easy questions (the ones the cheap model gets right) and 35% of hard
ones score below 0.5. That spread makes the score close to calibrated (its log-odds track
those of the question being hard, up to a constant): of the questions scored about 0.75, about
70% are hard; of those scored about 0.15, about 10%. Every tenant keeps that router and asks
the dataset's mix of questions (about 36% hard) for the whole stream, except the small one:
from the middle of the stream on, a broken routing rule raises its threshold to about 0.92
(the score under which 95% of hard questions fall, and nearly all easy ones), and its users
ask more hard questions (half of them).

What shadowgap should say about the small tenant: its routing share (about 64% -> 97% cheap)
and its quality gap rise, and the attribution of the rise in expected flagship wins per
request (the router share / cheap path on comparable requests / traffic mix split, Shapley)
puts most of it on the router share (about 80% on the whole periods): the harder questions cost
quality mainly because the raised threshold sends them cheap. The rest is mostly the cheap
path on comparable requests (about 15%): with more hard questions asked, a question at any
given score is more often hard (the router's score, fitted to the old traffic, now underrates
it); the traffic mix, the scores themselves moving up, takes about 5%. An alert's windows are
short (the events from the estimated change to the detection, against the events before), so
its split scatters around these figures.

The draws: one generator, seeded, makes the same draws in the same order as the demo's stream
did before its router scored requests (the score of a request is the quantile of its routing
draw), so the other four tenants' requests are draw for draw what they were and the detectors
there see the stream they have always seen. The one draw the broken rule adds (the escalation
of an easy question it newly sends cheap, which the old stream kept on the flagship) comes
from that request's own generator.
"""

from __future__ import annotations

import csv
import math
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from statistics import NormalDist
from typing import Any

from shadowgap.cli.demo import agentic
from shadowgap.cli.demo.agentic import AgenticCase

CHEAP_MODEL = "mistralai/Mixtral-8x7B-Instruct-v0.1"
FLAGSHIP_MODEL = "gpt-4-1106-preview"
TENANT_SHARES = {"acme": 0.45, "globex": 0.27, "initech": 0.15, "umbrella": 0.10, "hooli": 0.03}
REGRESSING_TENANT = "hooli"
THRESHOLD = 0.5  # the router sends a request cheap when its score is below it
P_CHEAP_EASY = 0.80  # share of easy questions scored below the threshold
P_CHEAP_HARD = 0.35  # and of hard ones
# Spread of the score's log-odds: with it the log-odds of "hard" given the score grow one for
# one with the score's (the two classes' means are SCORE_SD**2 apart), i.e. it is calibrated
# up to a constant.
SCORE_SD = NormalDist().inv_cdf(P_CHEAP_EASY) - NormalDist().inv_cdf(P_CHEAP_HARD)
# After the break, in the regressing tenant only:
HARD_SHARE_AFTER = 0.5  # its users ask more hard questions...
P_CHEAP_HARD_AFTER = 0.95  # ...and a broken rule raises its threshold to where 95% of them go cheap
THRESHOLD_AFTER = 1.0 / (
    1.0
    + math.exp(
        -SCORE_SD * (NormalDist().inv_cdf(P_CHEAP_HARD_AFTER) - NormalDist().inv_cdf(P_CHEAP_HARD))
    )
)


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
class Regression:
    """A change injected into one segment, and the signals that should catch it."""

    segment: str
    first_event_id: str  # the segment's first request after the break
    signals: tuple[str, ...]


@dataclass(frozen=True)
class SimulatedTraffic:
    events: list[dict[str, Any]]
    shift_index: int  # index of the first GSM8K event after the regression starts
    regressing_segment: str
    regressions: tuple[Regression, ...] = ()
    # The agentic tenant's answer kinds by event id (shadowgap/cli/demo/agentic.py).
    agentic_kinds: dict[str, str] = field(default_factory=dict)
    # Index of the first event after the router's fix (the regressing tenant routed to the
    # flagship, shadowgap/cli/demo/loop.py); None when the stream has no fix.
    fix_index: int | None = None

    def regression(self, segment: str) -> Regression | None:
        return next((r for r in self.regressions if r.segment == segment), None)


def simulate(
    pairs: list[Pair],
    n_events: int = 48_000,
    seed: int = 7,
    days: float = 14.0,
    start: datetime | None = None,
    shift_at: float = 0.5,
    agentic_pool: list[AgenticCase] | None = None,
    fix_at: float | None = None,
) -> SimulatedTraffic:
    """The five GSM8K tenants' ``n_events`` requests, and with ``agentic_pool`` the agentic
    tenant's (:data:`agentic.VOLUME` as many again, from their own generator), merged in time
    order. With ``fix_at`` (a fraction of the stream after ``shift_at``) the router applies
    shadowgap's proposal from there on: every request of the regressing tenant goes to the
    flagship."""
    rng = random.Random(seed)
    easy = [p for p in pairs if p.cheap_correct]
    hard = [p for p in pairs if not p.cheap_correct]
    hard_share = len(hard) / len(pairs)
    tenants = list(TENANT_SHARES)
    weights = list(TENANT_SHARES.values())
    begin = start or datetime.now(UTC).replace(microsecond=0) - timedelta(days=days)
    step = timedelta(days=days) / n_events
    shift_index = int(n_events * shift_at)
    fix_index = int(n_events * fix_at) if fix_at is not None else None
    if fix_index is not None and fix_index <= shift_index:
        raise ValueError("fix_at must come after shift_at")
    events = []
    for i in range(n_events):
        tenant = rng.choices(tenants, weights)[0]
        shifted = tenant == REGRESSING_TENANT and i >= shift_index
        is_hard = rng.random() < (HARD_SHARE_AFTER if shifted else hard_share)
        pair = rng.choice(hard if is_hard else easy)
        # The router scores the request, then decides from the score alone.
        score = router_score(is_hard, rng.random())
        cheap = score < (THRESHOLD_AFTER if shifted else THRESHOLD)
        # See the module docstring: the broken rule's one extra draw, kept off the shared
        # generator.
        newly_cheap = cheap and not is_hard and score >= THRESHOLD
        own = random.Random(f"{seed}:{i}") if newly_cheap else rng
        event = _event(i, tenant, pair, score, cheap, begin + step * i, rng, own)
        if shifted and fix_index is not None and i >= fix_index:
            # Drawn as before the fix (the shared generator's draws stay put), then served as
            # the fixed router serves it, with this request's own draws.
            event = _routed_to_flagship(event, pair, random.Random(f"{seed}:fix:{i}"))
        events.append(event)
    segment = f"tenant={REGRESSING_TENANT}"
    regressions = [
        Regression(segment, events[shift_index]["event_id"], ("routing_share", "quality_gap"))
    ]
    if not agentic_pool:
        return SimulatedTraffic(
            events, shift_index, segment, tuple(regressions), fix_index=fix_index
        )
    n_agentic = round(n_events * agentic.VOLUME)
    extra, kinds = agentic.events(
        agentic_pool,
        n_agentic,
        seed,
        begin,
        days,
        shift_at,
        router_score,
        THRESHOLD,
        (CHEAP_MODEL, FLAGSHIP_MODEL),
    )
    regressions.append(
        Regression(
            f"tenant={agentic.AGENTIC_TENANT}",
            extra[int(n_agentic * shift_at)]["event_id"],
            ("quality_gap",),
        )
    )
    shift_event = events[shift_index]
    # Stable merge by time: the GSM8K events keep their order, and so do the agent's.
    merged = sorted(events + extra, key=lambda e: datetime.fromisoformat(e["timestamp"]))
    return SimulatedTraffic(
        merged,
        merged.index(shift_event),
        segment,
        tuple(regressions),
        {e["event_id"]: kind for e, kind in zip(extra, kinds, strict=True)},
        merged.index(events[fix_index]) if fix_index is not None else None,
    )


def router_score(is_hard: bool, u: float) -> float:
    """The router's score of an easy or hard question at the quantile ``u`` of its scores:
    below ``THRESHOLD`` exactly when ``u`` is below the question's cheap share."""
    p_cheap = P_CHEAP_HARD if is_hard else P_CHEAP_EASY
    z = NormalDist().inv_cdf(min(max(u, 1e-12), 1.0 - 1e-12)) - NormalDist().inv_cdf(p_cheap)
    # Not rounded: a rounded score could land on the threshold on the wrong side of it.
    return 1.0 / (1.0 + math.exp(-(math.log(THRESHOLD / (1.0 - THRESHOLD)) + SCORE_SD * z)))


def _routed_to_flagship(event: dict[str, Any], pair: Pair, rng: random.Random) -> dict[str, Any]:
    """``event`` as the fixed router serves it: the flagship's route, answer, latency, cost."""
    if event["route"]["tier"] == "flagship":
        return event
    latency = rng.gauss(1800, 250)
    prompt_tokens = event["usage"]["prompt_tokens"]
    failed = event["status"] == "error"
    tokens = len(pair.flagship_answer) // 4
    return {
        **event,
        "route": {
            **event["route"],
            "tier": "flagship",
            "model": FLAGSHIP_MODEL,
            "reason": "shadowgap proposal: tenant routed to the flagship",
        },
        "answer": None if failed else pair.flagship_answer,
        "latency_ms": round(max(latency, 50.0), 1),
        "ttft_ms": round(max(latency * 0.2, 20.0), 1),
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": 0 if failed else tokens},
        "cost_usd": round((prompt_tokens * 0.01 + tokens * 0.03) / 1000, 6),
        "escalated": False,
    }


def _event(
    i: int,
    tenant: str,
    pair: Pair,
    score: float,
    cheap: bool,
    at: datetime,
    rng: random.Random,
    escalation_rng: random.Random,
) -> dict[str, Any]:
    escalated = cheap and escalation_rng.random() < 0.03
    latency = rng.gauss(450, 60) if cheap else rng.gauss(1800, 250)
    if escalated:
        latency += escalation_rng.gauss(1800, 250)
    failed = rng.random() < 0.004
    # The draw that once made up the displayed score: kept, so the later draws stay put.
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
