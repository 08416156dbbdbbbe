"""Before/after comparisons of one scope around a router change, with one-sided tests.

A router change is verified by three differences, after minus before, each with a standard
error: the per-request excess gap (:func:`excess_gap_shift`), the cost per request
(:func:`mean_shift`, reported per day by the caller) and the p95 latency
(:func:`quantile_shift`). "Worse" is up for all three, so each is a one-sided test:
:meth:`Shift.worse_than` says whether the lower confidence bound of the difference lies
above a tolerance (the predicted effect's upper end, or zero).

**Per request, not per cheap pair.** A change that routes part of a segment to the flagship
leaves fewer cheap-routed pairs, so the excess gap among cheap pairs compares different
populations before and after. The per-request measure, ``cheap share x excess gap among cheap
pairs``, is the expected excess flagship wins per request of the scope: what users see, and
zero for the part now served by the flagship. Its variance is the delta method's:
``s^2 var(g) + g^2 s (1 - s) / N``.

**Several looks, one error rate.** The caller tests at many looks as the after window grows;
:mod:`shadowgap.stats.group_sequential` spends the false-flag rate over them, with boundaries
that account for the looks' correlation and for the before level's own uncertainty, and the
caller divides the rate among the metrics (Bonferroni, by its shares), so a change that moved
nothing is flagged with probability at most the total over the whole horizon, the three
metrics together.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from shadowgap.stats.excess_gap import WeightedSums

# Power the decisive look is sized for, against the configured minimum effect.
POWER = 0.8

# A route-to-flagship change is decided by its routing once at least this many of the scope's
# requests came after it and none went cheap (:func:`all_flagship_after`). 50 is the first cut
# of the verification's grid: by then a change that still sends part of the scope cheap has
# shown it (a cheap share of 6% or more is missed by 50 requests with probability under 5%,
# 0.94^50 = 4.5%), and one rerouted request among them ends the shortcut for good.
ALL_FLAGSHIP_MIN_REQUESTS = 50


@dataclass(frozen=True)
class Shift:
    """After minus before, with its standard error (None when a side has too little data)."""

    before: float | None
    after: float | None
    se: float | None
    n_before: int
    n_after: int

    @property
    def delta(self) -> float | None:
        if self.before is None or self.after is None:
            return None
        return self.after - self.before

    def interval(self, z: float) -> tuple[float, float] | None:
        delta = self.delta
        if delta is None or self.se is None:
            return None
        return (delta - z * self.se, delta + z * self.se)

    def worse_than(self, tolerance: float, z: float) -> bool:
        """The one-sided lower bound of the rise lies above ``tolerance``."""
        bounds = self.interval(z)
        return bounds is not None and bounds[0] > tolerance


@dataclass(frozen=True)
class RequestExcess:
    """Per-request excess gap of one window and its variance."""

    value: float | None
    variance: float | None
    cheap_share: float | None
    pairs: int


def request_excess(
    gap: WeightedSums, noise_rate: float, cheap_events: int, events: int
) -> RequestExcess:
    """``cheap share x (Hajek gap rate - noise rate)`` with its delta-method variance (module
    doc); the noise floor is the same for both windows, so its variance is left to the
    difference (:func:`excess_gap_shift`)."""
    if events <= 0:
        return RequestExcess(None, None, None, gap.n)
    share = cheap_events / events
    if cheap_events == 0:
        # Everything served by the flagship: no excess wins, known exactly.
        return RequestExcess(0.0, 0.0, 0.0, gap.n)
    rate, var_g = gap.rate, gap.variance
    if rate is None or var_g is None:
        return RequestExcess(None, None, share, gap.n)
    excess = rate - noise_rate
    variance = share * share * var_g + excess * excess * share * (1.0 - share) / events
    return RequestExcess(share * excess, variance, share, gap.n)


def all_flagship_after(cheap: ArrayLike) -> bool:
    """Whether the after window decides quality by its routing alone: at least
    :data:`ALL_FLAGSHIP_MIN_REQUESTS` requests, none routed cheap (``cheap``: one flag per
    request). Then its per-request excess gap is exactly 0, observed on every request rather
    than sampled, and only the before level's uncertainty is left to test against: no request
    can have lost on a cheap path it did not take.

    >>> all_flagship_after([False] * 50), all_flagship_after([False] * 49)
    (True, False)
    >>> all_flagship_after([False] * 80 + [True])
    False
    """
    flags = np.asarray(cheap, dtype=bool)
    return flags.size >= ALL_FLAGSHIP_MIN_REQUESTS and not flags.any()


def excess_gap_shift(before: RequestExcess, after: RequestExcess, noise_var: float) -> Shift:
    """After minus before of the per-request excess gap; the shared noise floor enters in
    proportion to how much the cheap share moved."""
    if before.value is None or after.value is None:
        return Shift(before.value, after.value, None, before.pairs, after.pairs)
    share_moved = (after.cheap_share or 0.0) - (before.cheap_share or 0.0)
    variance = (before.variance or 0.0) + (after.variance or 0.0) + share_moved**2 * noise_var
    return Shift(before.value, after.value, math.sqrt(variance), before.pairs, after.pairs)


def mean_shift(before: ArrayLike, after: ArrayLike) -> Shift:
    """Difference of two means with Welch's standard error."""
    a, b = np.asarray(before, dtype=float), np.asarray(after, dtype=float)
    if a.size < 2 or b.size < 2:
        return Shift(_mean(a), _mean(b), None, int(a.size), int(b.size))
    se = math.sqrt(float(a.var(ddof=1)) / a.size + float(b.var(ddof=1)) / b.size)
    return Shift(float(a.mean()), float(b.mean()), se, int(a.size), int(b.size))


def _mean(values: np.ndarray) -> float | None:
    return float(values.mean()) if values.size else None


def quantile_standard_error(values: np.ndarray, q: float) -> float | None:
    """Distribution-free standard error of a sample quantile: the 95% order-statistic
    interval (ranks ``nq +/- 1.96 sqrt(nq(1-q))``) divided by ``2 x 1.96``. Needs enough rows
    for both ranks to exist."""
    n = values.size
    half = 1.959963984540054 * math.sqrt(n * q * (1.0 - q))
    low, high = math.floor(n * q - half), math.ceil(n * q + half)
    if low < 0 or high >= n:
        return None
    ordered = np.sort(values)
    return float(ordered[high] - ordered[low]) / (2 * 1.959963984540054)


def quantile_shift(before: ArrayLike, after: ArrayLike, q: float = 0.95) -> Shift:
    """Difference of two sample quantiles (NumPy's inverted-CDF definition, as
    :mod:`shadowgap.stats.quantiles`) with the order-statistic standard errors combined."""
    a, b = np.asarray(before, dtype=float), np.asarray(after, dtype=float)
    qa = float(np.quantile(a, q, method="inverted_cdf")) if a.size else None
    qb = float(np.quantile(b, q, method="inverted_cdf")) if b.size else None
    se_a = quantile_standard_error(a, q) if a.size else None
    se_b = quantile_standard_error(b, q) if b.size else None
    se = math.sqrt(se_a**2 + se_b**2) if se_a is not None and se_b is not None else None
    return Shift(qa, qb, se, int(a.size), int(b.size))


def z_for(alpha: float) -> float:
    """The one-sided normal quantile for level ``alpha``."""
    return float(stats.norm.isf(alpha))
