"""Group-sequential boundaries: one look is the fixed-sample test, many looks hold the level
over the horizon (simulated, with the before level shared by every look), and they are
lower than Bonferroni's over the same looks after the first."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from shadowgap.stats.group_sequential import SpendingTest, boundaries, pocock_spending


def test_one_look_is_the_fixed_sample_one_sided_test() -> None:
    assert boundaries([3.0], [0.025]) == pytest.approx([1.959964], abs=1e-4)


def test_pocock_spending_spends_all_by_the_horizon_and_more_early_than_linear() -> None:
    assert pocock_spending(0.05, 0.0) == 0.0
    assert pocock_spending(0.05, 1.0) == pytest.approx(0.05)
    assert pocock_spending(0.05, 2.0) == pytest.approx(0.05)
    assert pocock_spending(0.05, 0.3) > 0.05 * 0.3


def test_before_after_looks_hold_the_level_over_the_horizon() -> None:
    """A stationary stream tested at 20 looks against a before level estimated once: the
    chance that any look crosses its boundary is the level spent, not 20 times it."""
    looks = 20
    before_var, unit_var = 1.0, 5.0
    after_var = unit_var / np.arange(1, looks + 1)
    information = 1.0 / (after_var + before_var)
    spent = [pocock_spending(0.025, k / looks) for k in range(1, looks + 1)]
    bounds = np.array(boundaries(list(information), spent))
    rng = np.random.default_rng(7)
    runs = 100_000
    before = rng.normal(0.0, np.sqrt(before_var), (runs, 1))
    after = np.cumsum(rng.normal(0.0, np.sqrt(unit_var), (runs, looks)), axis=1)
    after /= np.arange(1, looks + 1)
    z = (after - before) / np.sqrt(after_var + before_var)
    rate = float((z > bounds).any(axis=1).mean())
    assert 0.019 <= rate <= 0.0265  # level 0.025 (the grid errs on the safe side)
    # Bonferroni over the same looks would test each at its increment alone: higher bounds.
    increments = np.diff([0.0, *spent])
    assert bounds[0] == pytest.approx(stats.norm.isf(increments[0]), abs=1e-4)
    assert (bounds[1:] < stats.norm.isf(increments[1:])).all()


def test_a_look_that_spends_nothing_has_no_boundary_and_information_must_grow() -> None:
    test = SpendingTest()
    assert test.look(1.0, 0.0) == float("inf")
    assert np.isfinite(test.look(2.0, 0.01))
    with pytest.raises(ValueError, match="information must increase"):
        test.look(2.0, 0.02)
