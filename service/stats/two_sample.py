"""One-sided two-sample tests of Hajek flagship-wins rates, vectorised over many slices.

Slice discovery compares thousands of candidate slices with their complements at once, so
the inputs are numpy arrays of the same five sums :class:`service.stats.excess_gap.WeightedSums`
keeps (n, sum w, sum w*y, sum w^2, sum w^2*y), one entry per slice.

The test is a weighted two-proportion z-test with the variance taken *under the null*: when
slice and complement share one rate ``p0`` (estimated by pooling both), the Hajek rate of a
group with weights ``w`` has variance ``p0 (1 - p0) sum(w^2) / sum(w)^2`` (the Bernoulli
variance over Kish's effective sample size). Using the pooled rate rather than each group's own
keeps a small slice that happens to have no flagship wins (own variance 0) from producing an
infinite statistic, and is the score-test form that holds its level best at small n.

The excess gap subtracts each side's noise floor (flagship vs a repeat of itself). When the
slice has fewer than ``MIN_SEGMENT_NOISE_PAIRS`` noise pairs, both sides borrow the same
deployment-wide floor (the rule of :func:`service.stats.excess_gap.excess_gap`), which cancels
in the difference; otherwise the noise-rate difference and its pooled variance enter too.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import stats

from service.stats.excess_gap import MIN_SEGMENT_NOISE_PAIRS

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class SumArrays:
    """Per-slice weighted sums of binary outcomes (each field one array, or a scalar)."""

    n: FloatArray
    w: FloatArray
    wy: FloatArray
    w2: FloatArray
    w2y: FloatArray

    @classmethod
    def from_matrix(cls, matrix: FloatArray) -> SumArrays:
        """From columns (n, w, wy, w2, w2y)."""
        return cls(*(np.asarray(matrix[:, i], dtype=np.float64) for i in range(5)))

    def __sub__(self, other: SumArrays) -> SumArrays:
        return SumArrays(
            self.n - other.n,
            self.w - other.w,
            self.wy - other.wy,
            self.w2 - other.w2,
            self.w2y - other.w2y,
        )

    def rate(self) -> FloatArray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.w > 0, self.wy / np.where(self.w > 0, self.w, 1.0), np.nan)

    def inverse_effective_n(self) -> FloatArray:
        """sum(w^2) / sum(w)^2, i.e. 1 / Kish's effective sample size."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.w > 0, self.w2 / np.where(self.w > 0, self.w, 1.0) ** 2, np.inf)


@dataclass(frozen=True)
class OneSidedResult:
    """Per slice: difference in excess gap (slice minus complement), its null standard
    error, z statistic and one-sided p-value (H1: the slice's excess gap is higher)."""

    difference: FloatArray
    se: FloatArray
    z: FloatArray
    p_value: FloatArray


def _pooled_variance(a: SumArrays, b: SumArrays) -> tuple[FloatArray, FloatArray]:
    """Difference of rates a - b and its variance under H0 (one rate for both)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        pooled = (a.wy + b.wy) / (a.w + b.w)
    variance = pooled * (1.0 - pooled) * (a.inverse_effective_n() + b.inverse_effective_n())
    return a.rate() - b.rate(), variance


def excess_gap_greater(
    gap: SumArrays,
    other_gap: SumArrays,
    noise: SumArrays,
    other_noise: SumArrays,
    min_noise_pairs: int = MIN_SEGMENT_NOISE_PAIRS,
) -> OneSidedResult:
    """Is the excess gap of ``gap``/``noise`` above that of ``other_gap``/``other_noise``?

    Groups must be disjoint (a slice and its complement, or one slice in two windows). A group
    without pairs, or a null variance of 0 (every outcome equal), gives p-value 1.
    """
    diff, variance = _pooled_variance(gap, other_gap)
    own_floor = (noise.n >= min_noise_pairs) & (other_noise.n >= min_noise_pairs)
    if np.any(own_floor):
        noise_diff, noise_variance = _pooled_variance(noise, other_noise)
        diff = np.where(own_floor, diff - noise_diff, diff)
        variance = np.where(own_floor, variance + noise_variance, variance)
    se = np.sqrt(variance)
    valid = np.isfinite(diff) & np.isfinite(se) & (se > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.where(valid, diff / np.where(valid, se, 1.0), 0.0)
    p_value = np.where(valid, stats.norm.sf(z), 1.0)
    return OneSidedResult(diff, se, z, p_value)


def benjamini_hochberg(p_values: FloatArray, family_size: int | None = None) -> FloatArray:
    """Benjamini-Hochberg adjusted p-values (q-values): reject where ``q <= level``.

    ``family_size`` is the number of hypotheses the procedure accounts for when only some of
    them were computed (those not computed count as p = 1, which never changes a rejection):
    ``q_(i) = min_{j >= i} p_(j) * m / j``.
    """
    p = np.asarray(p_values, dtype=np.float64)
    m = max(len(p), family_size or 0)
    if len(p) == 0:
        return p
    if m == len(p):
        return np.asarray(stats.false_discovery_control(p, method="bh"), dtype=np.float64)
    order = np.argsort(p)
    ranked = p[order] * m / np.arange(1, len(p) + 1)
    adjusted = np.minimum.accumulate(ranked[::-1])[::-1]
    q = np.empty_like(p)
    q[order] = np.minimum(adjusted, 1.0)
    return q
