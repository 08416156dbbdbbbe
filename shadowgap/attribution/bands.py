"""Router-score bands: which requests count as comparable across two periods.

Two requests are comparable when the router scored them alike. Band edges are quantiles of
both periods' scores pooled, plus each period's routing boundary when that period's routing is
a clean threshold on the score (every cheap request on one side of every flagship one): with
that edge in place a moved threshold changes the cheap share of whole bands, and a moved score
mix leaves each band's cheap share where it was, so the two are told apart. Events without a
score get a band of their own.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from shadowgap.attribution.periods import Period

DEFAULT_BANDS = 8
# A period is "scored" when at least this share of its events carry a router score.
MIN_SCORED_SHARE = 0.5


@dataclass(frozen=True)
class Bands:
    """Interior edges (ascending) and the band index of every event of each period."""

    edges: list[float]
    before: np.ndarray
    after: np.ndarray

    @property
    def count(self) -> int:
        # Quantile bands, plus one for events without a score.
        return len(self.edges) + 2


def has_scores(period: Period) -> bool:
    return len(period) > 0 and float(np.mean(np.isfinite(period.score))) >= MIN_SCORED_SHARE


def routing_boundary(period: Period) -> float | None:
    """The score that separates cheap from flagship requests, when one does."""
    scored = np.isfinite(period.score)
    cheap = period.score[scored & (period.cheap > 0)]
    flagship = period.score[scored & (period.cheap == 0)]
    if cheap.size == 0 or flagship.size == 0:
        return None
    if cheap.max() < flagship.min():
        return float((cheap.max() + flagship.min()) / 2)
    if flagship.max() < cheap.min():
        return float((flagship.max() + cheap.min()) / 2)
    return None


def score_bands(before: Period, after: Period, n_bands: int = DEFAULT_BANDS) -> Bands:
    pooled = np.concatenate([before.score, after.score])
    pooled = pooled[np.isfinite(pooled)]
    edges: set[float] = set()
    if pooled.size:
        inner = np.quantile(pooled, np.linspace(0, 1, n_bands + 1)[1:-1])
        edges.update(float(e) for e in inner)
    for period in (before, after):
        boundary = routing_boundary(period)
        if boundary is not None:
            edges.add(boundary)
    ordered = sorted(edges)
    return Bands(ordered, _assign(before.score, ordered), _assign(after.score, ordered))


def single_band(before: Period, after: Period) -> Bands:
    """Everything in one band: the decomposition without router scores."""
    return Bands([], np.zeros(len(before), dtype=np.int64), np.zeros(len(after), dtype=np.int64))


def _assign(scores: np.ndarray, edges: list[float]) -> np.ndarray:
    band = np.searchsorted(np.asarray(edges, dtype=float), scores, side="right").astype(np.int64)
    band[~np.isfinite(scores)] = len(edges) + 1
    return band
