"""Percentile bootstrap intervals for vector-valued statistics of independent samples.

A thin layer over :func:`scipy.stats.bootstrap`: each sample (one per period, say) is resampled
on its own, the statistic may return several values at once (one per attribution factor), and
degenerate cases (a sample of fewer than two rows, a statistic that is undefined on some
resamples) give ``None`` rather than an exception. The percentile method is used because BCa's
jackknife would re-evaluate the statistic once per row, which is too slow for periods of tens of
thousands of requests.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence

import numpy as np
from scipy import stats

DEFAULT_RESAMPLES = 499
# Resamples evaluated per vectorised call: bounds memory at batch x rows indices per sample.
BATCH = 64


def bootstrap_intervals(
    samples: Sequence[np.ndarray],
    statistic: Callable[..., np.ndarray],
    *,
    n_resamples: int = DEFAULT_RESAMPLES,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray] | None:
    """``(low, high)`` arrays, one entry per value ``statistic`` returns; None if undefined.

    ``statistic(*resampled, axis=-1)`` receives each sample resampled with replacement (a
    leading batch axis added) and returns an array of shape ``(k, batch)``. Entries whose
    bootstrap distribution contains NaN get NaN bounds.

    >>> rng = np.random.default_rng(1)
    >>> a, b = rng.normal(0, 1, 400), rng.normal(1, 1, 400)
    >>> low, high = bootstrap_intervals(
    ...     [a, b], lambda x, y, axis: np.stack([y.mean(axis) - x.mean(axis)]), seed=3)
    >>> bool(low[0] < 1.0 < high[0]), bool(low[0] > 0.7)
    (True, True)
    """
    if n_resamples < 1 or any(len(sample) < 2 for sample in samples):
        return None
    with warnings.catch_warnings():
        # A constant statistic (say a factor that never moves) is a valid, zero-width answer.
        warnings.simplefilter("ignore", category=stats.DegenerateDataWarning)
        warnings.simplefilter("ignore", category=RuntimeWarning)
        result = stats.bootstrap(
            tuple(samples),
            statistic,
            n_resamples=n_resamples,
            batch=BATCH,
            vectorized=True,
            paired=False,
            axis=-1,
            confidence_level=confidence,
            method="percentile",
            rng=np.random.default_rng(seed),
        )
    low = np.atleast_1d(np.asarray(result.confidence_interval.low, dtype=float))
    high = np.atleast_1d(np.asarray(result.confidence_interval.high, dtype=float))
    return low, high


def paired_ratio_interval(
    numerator: np.ndarray,
    denominator: np.ndarray,
    *,
    n_resamples: int = DEFAULT_RESAMPLES,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float] | None:
    """Percentile interval of ``sum(numerator) / sum(denominator)`` over paired observations
    (row i of both comes from the same draw): the pairs are resampled together, so what the two
    share (the same data, say a rule and its baseline run on it) cancels out of the interval.

    >>> rng = np.random.default_rng(2)
    >>> base = rng.uniform(0.1, 0.3, 1000)
    >>> low, high = paired_ratio_interval(0.9 * base + rng.normal(0, 0.01, 1000), base)
    >>> bool(0.88 < low < high < 0.91), bool(high - low < 0.01)
    (True, True)
    """
    numerator, denominator = np.asarray(numerator, float), np.asarray(denominator, float)
    if numerator.shape != denominator.shape or numerator.ndim != 1:
        raise ValueError("numerator and denominator must be 1-D arrays of the same length")

    def ratio(index: np.ndarray, axis: int) -> np.ndarray:
        rows = index.astype(int)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.stack([numerator[rows].sum(axis) / denominator[rows].sum(axis)])

    bounds = bootstrap_intervals(
        [np.arange(numerator.size, dtype=float)],
        ratio,
        n_resamples=n_resamples,
        confidence=confidence,
        seed=seed,
    )
    if bounds is None or not np.isfinite(bounds[0][0]):
        return None
    return float(bounds[0][0]), float(bounds[1][0])
