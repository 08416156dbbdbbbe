"""Weighted quantiles and the bootstrap wrapper."""

from __future__ import annotations

import numpy as np
import pytest

from shadowgap.stats.bootstrap import bootstrap_intervals
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
