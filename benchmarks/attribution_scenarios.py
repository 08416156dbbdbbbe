"""Synthetic segments with one known cause of change each (shared by the benchmark and tests).

A segment's requests get a router score in [0, 1) (higher: harder, so the flagship wins more
often against the cheap answer); the router sends a request cheap when its score is below the
threshold. Cheap-routed requests are judged with a random inclusion probability (0.1 or 0.3 unless
said otherwise),
as the per-segment sampler does; escalations add a flagship call to a cheap request's latency.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from shadowgap.attribution.periods import Period


@dataclass(frozen=True)
class Params:
    threshold: float = 0.5
    quality_shift: float = 0.0  # added to the flagship's win probability on cheap requests
    mix_low: float = 0.0  # share of requests drawn from scores [0.3, 0.5) instead of [0, 1)
    escalation_rate: float = 0.01  # of cheap-routed requests
    with_scores: bool = True
    # Inclusion probabilities of the cheap-routed requests (half get each).
    sample_rates: tuple[float, float] = (0.1, 0.3)


BASE = Params()
SCENARIOS: dict[str, tuple[str, Params]] = {
    # name: (the factor that truly moved, the after period's parameters)
    "routing_share": ("router_share", replace(BASE, threshold=0.65)),
    "cheap_quality": ("cheap_quality", replace(BASE, quality_shift=0.10)),
    "traffic_mix": ("traffic_mix", replace(BASE, mix_low=0.5)),
    "tail_escalations": ("escalations", replace(BASE, escalation_rate=0.08)),
}


def win_probability(score: np.ndarray, shift: float = 0.0) -> np.ndarray:
    return np.clip(0.05 + 0.4 * score + shift, 0.0, 1.0)


def generate(params: Params, n: int, rng: np.random.Generator) -> Period:
    score = rng.uniform(0.0, 1.0, n)
    low = rng.random(n) < params.mix_low
    score[low] = rng.uniform(0.3, 0.5, int(low.sum()))
    cheap = (score < params.threshold).astype(float)
    probability = np.where(rng.random(n) < 0.5, *params.sample_rates)
    judged = (cheap > 0) & (rng.random(n) < probability)
    won = (rng.random(n) < win_probability(score, params.quality_shift)) & judged
    escalated = (cheap > 0) & (rng.random(n) < params.escalation_rate)
    latency = np.where(
        cheap > 0, rng.lognormal(np.log(450), 0.25, n), rng.lognormal(np.log(1600), 0.25, n)
    )
    latency = latency + escalated * rng.lognormal(np.log(2500), 0.2, n)
    cost = np.where(cheap > 0, 0.0008, 0.012) * rng.lognormal(0.0, 0.2, n)
    return Period(
        score=score if params.with_scores else np.full(n, np.nan),
        cheap=cheap,
        verdict_weight=np.where(judged, 1.0 / probability, 0.0),
        flagship_won=won.astype(float),
        cost=cost,
        latency=latency,
        escalated=escalated.astype(float),
    )


def reverse_pairs(
    period: Period,
    rng: np.random.Generator,
    params: Params,
    width: float = 0.25,
    rate: float = 0.3,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A reverse shadow: flagship-routed requests scored within ``width`` above the threshold,
    re-run on the cheap model with probability ``rate`` and judged; (score, won, weight)."""
    near = (period.cheap == 0) & (period.score < params.threshold + width)
    chosen = near & (rng.random(len(period)) < rate)
    score = period.score[chosen]
    won = rng.random(score.size) < win_probability(score, params.quality_shift)
    return score, won.astype(float), np.full(score.size, 1.0 / rate)


def noise_pairs(n: int, rng: np.random.Generator, rate: float = 0.05) -> np.ndarray:
    """Flagship-vs-flagship outcomes: the flagship 'wins' against itself at ``rate``."""
    return (rng.random(n) < rate).astype(float)
