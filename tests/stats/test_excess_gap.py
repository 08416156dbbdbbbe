"""Weighted rates and the excess gap."""

from __future__ import annotations

import numpy as np
import pytest

from shadowgap.stats.excess_gap import MIN_SEGMENT_NOISE_PAIRS, WeightedSums, excess_gap


def sums(y: np.ndarray, w: np.ndarray) -> WeightedSums:
    return WeightedSums(len(y), w.sum(), (w * y).sum(), (w * w).sum(), (w * w * y).sum())


def test_weighted_rate_is_the_hajek_estimate() -> None:
    y = np.array([1, 0, 0, 1, 0], dtype=float)
    w = np.array([1, 1, 4, 4, 2], dtype=float)
    s = sums(y, w)
    assert s.rate == pytest.approx((1 + 4) / 12)
    p = s.rate
    n = len(y)  # with the n / (n - 1) small-sample factor, as WeightedMean has it
    assert s.variance == pytest.approx(((w * (y - p)) ** 2).sum() / w.sum() ** 2 * n / (n - 1))


def test_weighting_removes_oversampling_bias() -> None:
    # Half the pairs come from a stratum sampled 10x more often, with a higher gap rate.
    rng = np.random.default_rng(3)
    y = np.concatenate([rng.random(5000) < 0.5, rng.random(5000) < 0.1]).astype(float)
    w = np.concatenate([np.full(5000, 1.0), np.full(5000, 10.0)])
    # Population: 5,000 units at 0.5 and 50,000 at 0.1 -> 0.136.
    assert sums(y, w).rate == pytest.approx(0.1364, abs=0.01)


def test_excess_gap_uses_segment_noise_when_enough_pairs() -> None:
    gap = sums(np.array([1.0] * 30 + [0.0] * 70), np.ones(100))
    noise = sums(np.array([1.0] * 5 + [0.0] * 35), np.ones(40))
    pooled = sums(np.array([1.0] * 50 + [0.0] * 50), np.ones(100))
    result = excess_gap(gap, noise, pooled)
    assert result.noise_source == "segment"
    assert result.excess == pytest.approx(0.3 - 5 / 40)
    assert result.ci_low < result.excess < result.ci_high


def test_excess_gap_borrows_global_noise_for_small_segments() -> None:
    gap = sums(np.array([1.0] * 3 + [0.0] * 7), np.ones(10))
    noise = sums(np.array([1.0]), np.ones(1))
    assert noise.n < MIN_SEGMENT_NOISE_PAIRS
    pooled = sums(np.array([1.0] * 10 + [0.0] * 90), np.ones(100))
    result = excess_gap(gap, noise, pooled)
    assert result.noise_source == "global"
    assert result.excess == pytest.approx(0.3 - 0.1)


def test_no_pairs_no_excess() -> None:
    result = excess_gap(WeightedSums(), WeightedSums(), WeightedSums())
    assert result.excess is None and result.gap_rate is None and result.noise_source == "none"
