"""The one-sided slice-vs-complement test: its z is calibrated in the far tail where slice
discovery decides (small slices, p around 1e-4), which the score z is not."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from shadowgap.stats.two_sample import (
    SumArrays,
    benjamini_hochberg,
    excess_gap_greater,
    signed_root_lr,
)


def arrays(n: float, wins: float, weight: float = 1.0) -> SumArrays:
    """A group of ``n`` pairs of equal weight with ``wins`` flagship wins."""
    one = np.ones(1)
    return SumArrays(
        one * n, one * n * weight, one * wins * weight, one * n * weight**2, one * wins * weight**2
    )


NO_NOISE = arrays(0, 0)


@pytest.mark.parametrize(("n", "wins"), [(50, 22), (60, 25), (60, 27), (100, 36), (300, 90)])
def test_tail_probability_matches_the_exact_mid_p(n: int, wins: int) -> None:
    # Against a complement so large its rate is known (0.2), the test is a one-sample binomial
    # test: the signed-root LR p-value is within 15% of the exact mid-p; the score z's is 2-20x
    # too small at these sizes (what made null slices look significant before).
    slice_, rest = arrays(n, wins), arrays(10_000_000, 2_000_000)
    result = excess_gap_greater(slice_, rest, NO_NOISE, NO_NOISE)
    mid_p = stats.binom.sf(wins, n, 0.2) + 0.5 * stats.binom.pmf(wins, n, 0.2)
    assert result.p_value[0] == pytest.approx(mid_p, rel=0.15)
    score_p = stats.norm.sf((wins / n - 0.2) / np.sqrt(0.2 * 0.8 / n))
    assert score_p < mid_p / 2


def test_weights_enter_through_the_effective_sample_size() -> None:
    # Scaling every weight of a group leaves the test unchanged (Hajek rates, Kish n).
    a = signed_root_lr(arrays(60, 25), arrays(2000, 400))
    b = signed_root_lr(arrays(60, 25, weight=14.0), arrays(2000, 400, weight=90.0))
    assert a[0] == pytest.approx(b[0])
    # Unequal weights inside the slice shrink its effective size and its evidence.
    mixed = SumArrays(
        *(np.asarray([v]) for v in (60.0, 30 + 30 * 9, 12 + 13 * 9, 30 + 30 * 81, 12 + 13 * 81))
    )
    assert 0 < signed_root_lr(mixed, arrays(2000, 400))[0] < a[0]


def test_null_level_holds_in_the_tail_for_small_slices() -> None:
    # 200,000 null slices of 50 pairs at a rate of 0.2 against a large complement: the share
    # with p <= 1e-3 is close to 1e-3 (the score z gives about 3x that).
    rng = np.random.default_rng(5)
    wins = rng.binomial(50, 0.2, size=200_000).astype(float)
    ones = np.ones_like(wins)
    slices = SumArrays(50 * ones, 50 * ones, wins, 50 * ones, wins)
    rest = SumArrays(*(np.full_like(wins, v) for v in (1e6, 1e6, 2e5, 1e6, 2e5)))
    empty = SumArrays(*(np.zeros_like(wins) for _ in range(5)))
    p = excess_gap_greater(slices, rest, empty, empty).p_value
    assert 0.5e-3 <= (p <= 1e-3).mean() <= 1.5e-3


def test_no_pairs_or_no_variance_gives_p_one() -> None:
    result = excess_gap_greater(arrays(0, 0), arrays(100, 20), NO_NOISE, NO_NOISE)
    assert result.p_value[0] == 1.0
    result = excess_gap_greater(arrays(60, 0), arrays(100, 0), NO_NOISE, NO_NOISE)
    assert result.p_value[0] == 1.0


def test_own_noise_floor_enters_the_difference() -> None:
    # Both sides have hundreds of noise pairs: a slice whose gap is high only because its
    # flagship is noisier there has no excess over the rest.
    gap, rest = arrays(2000, 600), arrays(20000, 4000)
    noise, rest_noise = arrays(400, 120 - 80 + 80), arrays(4000, 200)
    result = excess_gap_greater(gap, rest, noise, rest_noise, min_noise_pairs=200)
    assert result.difference[0] == pytest.approx((0.3 - 0.2) - (120 / 400 - 0.05))
    assert result.p_value[0] > 0.5


def test_benjamini_hochberg_counts_the_untested_hypotheses() -> None:
    p = np.array([1e-4, 0.01, 0.5])
    assert benjamini_hochberg(p)[0] == pytest.approx(3e-4)
    assert benjamini_hochberg(p, family_size=100)[0] == pytest.approx(1e-2)
