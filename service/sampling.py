"""Which cheap-routed events get a shadow re-run, and with what inclusion probability.

Stratified by segment and deterministic. The shadow budget ``B`` is a fraction of *all*
traffic; only cheap-routed events are candidates, so the overall rate over candidates is
``Bc = B * total / cheap_total``. That budget is split across the ``K`` segments that have
cheap traffic: a part ``e`` equally, the rest in proportion to volume, so a segment with cheap
share ``s`` gets the inclusion probability

    p_s = Bc * ((1 - e) + e / (K * s))          (capped at 1, floored at sampling_min_rate)

Summed over segments, ``sum_s p_s * s * cheap_total = Bc * cheap_total``: the budget is kept,
small segments are over-sampled (a 3% segment among 5 with B = 2%, e = 0.8 is sampled at about
5.5x the uniform rate) and large ones under-sampled. Every sampled event stores ``p_s`` so that
aggregates weight it by ``1 / p_s`` and stay unbiased (Horvitz-Thompson / Hajek).

The draw is ``hash(salt, event_id) < p_s``: a redelivered event gets the same decision, and a
replay with the same salt draws the same sample.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from service.config import Settings

WARMUP_MULTIPLIER = 10.0


def hash_unit(salt: str, key: str) -> float:
    """A uniform number in [0, 1) derived from ``key``: reproducible across processes."""
    digest = hashlib.sha256(f"{salt}\x1f{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def allocation_probability(
    share: float, n_segments: int, budget: float, equal_share: float
) -> float:
    """Inclusion probability of a segment with candidate share ``share`` (see module doc)."""
    if share <= 0.0 or n_segments <= 0:
        return min(1.0, budget)
    p = budget * ((1.0 - equal_share) + equal_share / (n_segments * share))
    return min(1.0, max(0.0, p))


@dataclass(frozen=True)
class TrafficTotals:
    """Deployment-wide counts that steer the allocation (slightly stale is fine: the
    probability actually used is the one stored)."""

    events: int
    cheap_events: int
    cheap_segments: int


def inclusion_probability(
    segment_cheap_events: int, totals: TrafficTotals, settings: Settings
) -> float:
    if totals.cheap_events <= 0 or totals.events <= 0:
        candidate_budget = settings.sampling_budget_fraction
    else:
        candidate_budget = min(
            1.0, settings.sampling_budget_fraction * totals.events / totals.cheap_events
        )
    if segment_cheap_events < settings.sampling_warmup_events:
        # A new segment's share is unknown; sample it generously until it is.
        p = min(1.0, WARMUP_MULTIPLIER * candidate_budget)
    else:
        share = segment_cheap_events / max(totals.cheap_events, 1)
        p = allocation_probability(
            share, max(totals.cheap_segments, 1), candidate_budget, settings.sampling_equal_share
        )
    return max(p, settings.sampling_min_rate)


@dataclass(frozen=True)
class Decision:
    sampled: bool
    hash_value: float
    replicates: int  # 1, or 2 when the flagship is also re-run for the noise floor


def decide(event_id: str, probability: float, settings: Settings) -> Decision:
    u = hash_unit(settings.sampling_salt, event_id)
    sampled = u < probability
    noise = hash_unit(settings.sampling_salt + ":noise", event_id) < settings.noise_floor_fraction
    return Decision(sampled=sampled, hash_value=u, replicates=2 if sampled and noise else 1)
