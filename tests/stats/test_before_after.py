"""The before/after statistics of router-change verification: their intervals cover, the
one-sided test flags a real rise and not a stationary stream."""

from __future__ import annotations

import math

import numpy as np

from shadowgap.stats.before_after import (
    ALL_FLAGSHIP_MIN_REQUESTS,
    all_flagship_after,
    excess_gap_shift,
    mean_shift,
    quantile_shift,
    request_excess,
    z_for,
)
from shadowgap.stats.excess_gap import WeightedSums

Z95 = 1.959963984540054


def _sums(y: np.ndarray, w: float) -> WeightedSums:
    weights = np.full(y.size, w)
    return WeightedSums(
        int(y.size),
        float(weights.sum()),
        float((weights * y).sum()),
        float((weights**2).sum()),
        float((weights**2 * y).sum()),
    )


def test_the_p95_difference_interval_covers_the_truth() -> None:
    rng = np.random.default_rng(1)
    truth = math.exp(0.4 * 1.6448536269514722) * 500 - math.exp(0.4 * 1.6448536269514722) * 400
    covered = 0
    for _ in range(400):
        before = np.exp(rng.normal(0, 0.4, 2000)) * 400
        after = np.exp(rng.normal(0, 0.4, 1500)) * 500
        low, high = quantile_shift(before, after).interval(Z95)  # type: ignore[misc]
        covered += low <= truth <= high
    assert 0.92 <= covered / 400 <= 0.99


def test_the_mean_difference_interval_covers_the_truth() -> None:
    rng = np.random.default_rng(2)
    covered = 0
    for _ in range(400):
        shift = mean_shift(rng.exponential(1.0, 800), rng.exponential(1.2, 600))
        low, high = shift.interval(Z95)  # type: ignore[misc]
        covered += low <= 0.2 <= high
    assert 0.92 <= covered / 400 <= 0.98


def test_the_per_request_excess_gap_interval_covers_the_truth() -> None:
    """Cheap share 0.8 -> 0.5 and the gap among cheap pairs 0.25 -> 0.30 (noise 0.1): per
    request 0.8 x 0.15 = 0.12 before, 0.5 x 0.20 = 0.10 after."""
    rng = np.random.default_rng(3)
    covered = 0
    for _ in range(400):
        parts = []
        for share, gap, events in ((0.8, 0.25, 6000), (0.5, 0.30, 5000)):
            cheap = int(rng.binomial(events, share))
            pairs = rng.binomial(cheap, 0.2)
            parts.append(request_excess(_sums(rng.random(pairs) < gap, 5.0), 0.1, cheap, events))
        low, high = excess_gap_shift(*parts, noise_var=0.09 / 400).interval(Z95)  # type: ignore[misc]
        covered += low <= -0.02 <= high
    assert 0.92 <= covered / 400 <= 0.99


def test_a_scope_served_by_the_flagship_has_no_excess_wins() -> None:
    result = request_excess(WeightedSums(), 0.1, 0, 500)
    assert (result.value, result.variance, result.cheap_share) == (0.0, 0.0, 0.0)


def test_the_one_sided_test_flags_a_rise_and_holds_its_level_on_a_flat_stream() -> None:
    rng = np.random.default_rng(4)
    z = z_for(0.02)
    flat = sum(
        mean_shift(rng.normal(0, 1, 400), rng.normal(0, 1, 400)).worse_than(0.0, z)
        for _ in range(2000)
    )
    risen = sum(
        mean_shift(rng.normal(0, 1, 400), rng.normal(0.3, 1, 400)).worse_than(0.0, z)
        for _ in range(200)
    )
    assert flat / 2000 <= 0.03  # level 0.02, with room for sampling error
    assert risen / 200 >= 0.9  # 0.3 sd with 400 a side: power about 0.97
    # A rise inside the predicted interval is no regression.
    assert not mean_shift(rng.normal(0, 1, 400), rng.normal(0.3, 1, 400)).worse_than(0.5, z)


def test_all_flagship_after_needs_the_minimum_of_requests_and_no_cheap_one() -> None:
    enough = ALL_FLAGSHIP_MIN_REQUESTS
    assert all_flagship_after(np.zeros(enough, dtype=bool))
    assert not all_flagship_after(np.zeros(enough - 1, dtype=bool))
    one_cheap = np.zeros(10 * enough, dtype=bool)
    one_cheap[-1] = True  # a request that goes cheap again ends the shortcut
    assert not all_flagship_after(one_cheap)
    assert not all_flagship_after(np.zeros(0, dtype=bool))
