"""One-sided two-sample tests of Hajek flagship-wins rates, vectorised over many slices.

Slice discovery compares thousands of candidate slices with their complements at once, so
the inputs are numpy arrays of the same five sums :class:`shadowgap.stats.excess_gap.WeightedSums`
keeps (n, sum w, sum w*y, sum w^2, sum w^2*y), one entry per slice.

The test is a weighted two-proportion z-test with the variance taken *under the null*: when
slice and complement share one rate ``p0`` (estimated by pooling both), the Hajek rate of a
group with weights ``w`` has variance ``p0 (1 - p0) sum(w^2) / sum(w)^2`` (the Bernoulli
variance over Kish's effective sample size). Using the pooled rate rather than each group's own
keeps a small slice that happens to have no flagship wins (own variance 0) from producing an
infinite statistic, and is the score-test form that holds its level best at small n.

The excess gap subtracts each side's noise floor (flagship vs a repeat of itself). When the
slice has fewer than ``MIN_SEGMENT_NOISE_PAIRS`` noise pairs, both sides borrow the same
deployment-wide floor (the rule of :func:`shadowgap.stats.excess_gap.excess_gap`), which cancels
in the difference; otherwise the noise-rate difference and its pooled variance enter too.

**Which z.** Slice discovery works in the far tail (p around 1e-4 over hundreds of slices of
50-100 pairs), where the score z of a small binomial count is badly skewed: with 60 pairs at a
rate of 0.2, 25 flagship wins have an exact mid-p of 7.0e-5 but a score-z p of 1.4e-5, five times
too small, so null slices look significant far more often than their p-values say. The signed
root of the likelihood-ratio statistic (:func:`signed_root_lr`) gives 6.7e-5 there, and stays
within a few percent of the mid-p from 50 pairs up (tests/stats/test_two_sample.py). So when the
floor is shared, the test's z is that signed root, on Kish effective counts (``n_e = (sum w)^2 /
sum w^2`` trials and ``rate x n_e`` successes per side: the binomial likelihood when weights are
equal, the usual design-effect approximation when not). With a slice's own floor (hundreds of
noise pairs, so thousands of pairs in all) the normal approximation is sound and the score z of
the difference of the two excess gaps is kept.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import special, stats

from shadowgap.stats.excess_gap import MIN_SEGMENT_NOISE_PAIRS

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

    def effective_n(self) -> FloatArray:
        """Kish's effective sample size (sum w)^2 / sum(w^2); 0 for a group without pairs."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.w2 > 0, self.w**2 / np.where(self.w2 > 0, self.w2, 1.0), 0.0)

    def inverse_effective_n(self) -> FloatArray:
        """sum(w^2) / sum(w)^2, i.e. 1 / Kish's effective sample size."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.w > 0, self.w2 / np.where(self.w > 0, self.w, 1.0) ** 2, np.inf)


@dataclass(frozen=True)
class OneSidedResult:
    """Per slice: difference in excess gap (slice minus complement), its null standard
    error, z statistic (the signed root of the likelihood ratio, or the score z with a slice's
    own floor: module doc) and one-sided p-value (H1: the slice's excess gap is higher)."""

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


def _log_likelihood(successes: FloatArray, trials: FloatArray, rate: FloatArray) -> FloatArray:
    """Binomial log-likelihood without the constant (0 log 0 = 0)."""
    return np.asarray(
        special.xlogy(successes, rate) + special.xlog1py(trials - successes, -rate),
        dtype=np.float64,
    )


def signed_root_lr(a: SumArrays, b: SumArrays) -> FloatArray:
    """Signed root of the likelihood-ratio statistic for rate(a) = rate(b), on effective counts.

    ``sign(rate_a - rate_b) * sqrt(2 (l(rate_a, rate_b) - l(pooled)))``; N(0, 1) under the null
    to third order in the tails that matter here (module doc). 0 where a group has no pairs.
    """
    n_a, n_b = a.effective_n(), b.effective_n()
    rate_a, rate_b = np.nan_to_num(a.rate()), np.nan_to_num(b.rate())
    x_a, x_b = rate_a * n_a, rate_b * n_b
    with np.errstate(invalid="ignore", divide="ignore"):
        pooled = np.where(n_a + n_b > 0, (x_a + x_b) / np.where(n_a + n_b > 0, n_a + n_b, 1.0), 0.0)
    deviance = 2.0 * (
        _log_likelihood(x_a, n_a, rate_a)
        + _log_likelihood(x_b, n_b, rate_b)
        - _log_likelihood(x_a, n_a, pooled)
        - _log_likelihood(x_b, n_b, pooled)
    )
    root = np.sign(rate_a - rate_b) * np.sqrt(np.maximum(deviance, 0.0))
    return np.where((n_a > 0) & (n_b > 0), root, 0.0)


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
        score = np.where(valid, diff / np.where(valid, se, 1.0), 0.0)
    z = np.where(own_floor, score, np.where(valid, signed_root_lr(gap, other_gap), 0.0))
    p_value = np.where(valid, stats.norm.sf(z), 1.0)
    return OneSidedResult(diff, se, z, p_value)


def benjamini_hochberg(
    p_values: FloatArray, family_size: int | None = None, weights: FloatArray | None = None
) -> FloatArray:
    """Benjamini-Hochberg adjusted p-values (q-values): reject where ``q <= level``.

    ``family_size`` is the number of hypotheses the procedure accounts for when only some of
    them were computed (those not computed count as p = 1, which never changes a rejection):
    ``q_(i) = min_{j >= i} p_(j) * m / j``.

    ``weights`` (one per computed p-value, averaging 1 over the whole family of ``m``) give the
    weighted procedure of Genovese, Roeder & Wasserman (2006): the same step-up on ``p / w``.
    Weights fixed before looking at the outcomes keep the FDR at the level under independence
    and under positive dependence (PRDS; Blanchard & Roquain 2008), and spend more of it where
    a discovery is a priori likelier.
    """
    p = np.asarray(p_values, dtype=np.float64)
    m = max(len(p), family_size or 0)
    if len(p) == 0:
        return p
    if weights is not None:
        w = np.asarray(weights, dtype=np.float64)
        if w.shape != p.shape or np.any(w <= 0):
            raise ValueError("one positive weight per p-value")
        p = p / w
    elif m == len(p):
        return np.asarray(stats.false_discovery_control(p, method="bh"), dtype=np.float64)
    order = np.argsort(p)
    ranked = p[order] * m / np.arange(1, len(p) + 1)
    adjusted = np.minimum.accumulate(ranked[::-1])[::-1]
    q = np.empty_like(p)
    q[order] = np.minimum(adjusted, 1.0)
    return q
