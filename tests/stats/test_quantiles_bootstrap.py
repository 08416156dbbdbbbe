"""Weighted quantiles and the bootstrap wrapper."""

from __future__ import annotations

import numpy as np
import pytest

from shadowgap.stats.bootstrap import bootstrap_intervals, paired_ratio_interval
from shadowgap.stats.quantiles import weighted_quantile


def test_equal_weights_match_numpy_inverted_cdf() -> None:
    rng = np.random.default_rng(4)
    values = rng.lognormal(6, 0.5, 999)
    expected = np.quantile(values, 0.95, method="inverted_cdf")
    assert weighted_quantile(values, np.ones_like(values), 0.95) == pytest.approx(expected)


def test_weights_act_as_repeats() -> None:
    values = np.array([10.0, 20.0, 30.0])
    repeated = np.repeat(values, [1, 3, 6])
    for q in (0.1, 0.3, 0.5, 0.95):
        assert weighted_quantile(values, [1, 3, 6], q) == np.quantile(
            repeated, q, method="inverted_cdf"
        )


def test_empty_and_bad_input() -> None:
    assert weighted_quantile([], [], 0.5) is None
    assert weighted_quantile([1.0, np.nan], [0.0, 1.0], 0.5) is None
    with pytest.raises(ValueError):
        weighted_quantile([1.0], [1.0], 1.5)


def test_bootstrap_covers_a_known_difference_and_handles_tiny_samples() -> None:
    rng = np.random.default_rng(8)
    a, b = rng.normal(0.0, 1.0, 500), rng.normal(0.5, 1.0, 500)

    def diff(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
        return np.stack([y.mean(axis=axis) - x.mean(axis=axis), x.mean(axis=axis)])

    intervals = bootstrap_intervals([a, b], diff, n_resamples=499, seed=1)
    assert intervals is not None
    low, high = intervals
    assert low[0] < 0.5 < high[0] and low[0] > 0.2
    assert low[1] < 0.0 < high[1]
    assert bootstrap_intervals([a[:1], b], diff) is None


def test_paired_ratio_interval_resamples_the_pairs_together() -> None:
    rng = np.random.default_rng(4)
    # Each run's baseline varies a lot; the rule keeps 90% of it, give or take a little.
    base = rng.uniform(0.05, 0.35, 2000)
    rule = 0.9 * base + rng.normal(0.0, 0.005, base.size)
    interval = paired_ratio_interval(rule, base, n_resamples=999, seed=1)
    assert interval is not None
    low, high = interval
    assert low < rule.sum() / base.sum() < high and low < 0.9 < high
    # Resampling the two independently would see the baseline's spread: far wider.
    shuffled = paired_ratio_interval(rule, rng.permutation(base), n_resamples=999, seed=1)
    assert shuffled is not None and (shuffled[1] - shuffled[0]) > 5 * (high - low)
    assert paired_ratio_interval(np.zeros(1), np.ones(1)) is None
    assert paired_ratio_interval(np.ones(3), np.zeros(3)) is None
    with pytest.raises(ValueError, match="same length"):
        paired_ratio_interval(np.ones(3), np.ones(4))
