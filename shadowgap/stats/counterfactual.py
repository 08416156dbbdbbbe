"""Predicted cost per day and p95 latency of a segment under another routing, with intervals.

A routing change moves a share of the segment's requests to the cheap path (or all of them to
the flagship). Its predicted cost per day is ``requests_per_day x (share x mean cheap cost +
(1 - share) x mean flagship cost)``, the means taken over the requests each path served; the
95% interval is the delta method's over the two means (the share is the change's own
parameter, counted on the segment's scores, not estimated from a sample). Its predicted p95 is
the 95th percentile of the mixture that draws a request's latency from the cheap path's with
probability ``share`` and from the flagship's otherwise (a weighted quantile), with a 95%
percentile bootstrap over both samples. Both assume a moved request costs and takes what the
path's current requests do: the proposal says so.
"""

from __future__ import annotations

import math

import numpy as np

from shadowgap.stats.estimates import Z_95, Interval
from shadowgap.stats.quantiles import weighted_quantile

P95 = 0.95
BOOTSTRAP_RESAMPLES = 199
# A bootstrap resamples at most this many latencies per path (a random subset): the interval
# of a p95 over 200,000 requests needs no more.
MAX_BOOTSTRAP_ROWS = 5000


def _finite(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    return values[np.isfinite(values)]


def cost_per_day(
    share: float, cheap_cost: np.ndarray, flagship_cost: np.ndarray, requests_per_day: float
) -> Interval:
    """Predicted cost per day when ``share`` of the requests go cheap (95% delta interval).

    >>> c = cost_per_day(0.5, np.array([1.0, 1.0]), np.array([3.0, 3.0]), 10)
    >>> (c.mean, c.low, c.high)
    (20.0, 20.0, 20.0)
    """
    cheap, flagship = _finite(cheap_cost), _finite(flagship_cost)
    parts = [(share, cheap), (1.0 - share, flagship)]
    mean, variance = 0.0, 0.0
    for weight, values in parts:
        if weight <= 0:
            continue
        if values.size == 0:
            return Interval(None, None, None, int(cheap.size + flagship.size))
        mean += weight * float(values.mean())
        if values.size > 1:
            variance += weight**2 * float(values.var(ddof=1)) / values.size
    half = Z_95 * math.sqrt(variance) * requests_per_day
    total = mean * requests_per_day
    return Interval(total, max(0.0, total - half), total + half, int(cheap.size + flagship.size))


def _mixture_p95(cheap: np.ndarray, flagship: np.ndarray, share: float) -> float | None:
    weights = []
    if cheap.size:
        weights.append(np.full(cheap.size, share / cheap.size))
    if flagship.size:
        weights.append(np.full(flagship.size, (1.0 - share) / flagship.size))
    if not weights:
        return None
    return weighted_quantile(np.concatenate([cheap, flagship]), np.concatenate(weights), P95)


def mixture_p95(
    share: float,
    cheap_latency: np.ndarray,
    flagship_latency: np.ndarray,
    *,
    n_resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = 0,
) -> Interval:
    """Predicted p95 when ``share`` of the requests take the cheap path's latencies.

    >>> rng = np.random.default_rng(0)
    >>> fast, slow = rng.normal(100, 5, 2000), rng.normal(1000, 50, 2000)
    >>> p = mixture_p95(0.0, fast, slow)
    >>> bool(p.low < p.mean < p.high) and 1050 < p.mean < 1100
    True
    """
    cheap = _finite(cheap_latency) if share > 0 else np.empty(0)
    flagship = _finite(flagship_latency) if share < 1 else np.empty(0)
    if (share > 0 and cheap.size == 0) or (share < 1 and flagship.size == 0):
        return Interval(None, None, None, int(cheap.size + flagship.size))
    point = _mixture_p95(cheap, flagship, share)
    rng = np.random.default_rng(seed)
    cheap_rows = _subset(cheap, rng)
    flagship_rows = _subset(flagship, rng)
    draws = []
    for _ in range(n_resamples):
        value = _mixture_p95(
            rng.choice(cheap_rows, cheap_rows.size) if cheap_rows.size else cheap_rows,
            rng.choice(flagship_rows, flagship_rows.size) if flagship_rows.size else flagship_rows,
            share,
        )
        if value is not None:
            draws.append(value)
    if not draws:
        return Interval(point, None, None, int(cheap.size + flagship.size))
    low, high = np.quantile(draws, [0.025, 0.975])
    return Interval(point, float(low), float(high), int(cheap.size + flagship.size))


def _subset(values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    if values.size <= MAX_BOOTSTRAP_ROWS:
        return values
    return rng.choice(values, MAX_BOOTSTRAP_ROWS, replace=False)
