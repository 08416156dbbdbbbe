"""False-alarm budget math: exact Bernoulli ARL against simulation, Siegmund, the 111 figure."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from shadowgap.drift import (
    BernoulliCUSUM,
    arl0_per_detector,
    bernoulli_arl,
    design_bernoulli_cusum,
    gaussian_delay,
    gaussian_threshold,
    siegmund_arl,
)
from shadowgap.drift.budget import (
    bernoulli_arl_vector,
    bernoulli_lattice,
    bernoulli_threshold,
    llr_increments,
)


def run_length(detector: BernoulliCUSUM, rng: random.Random, p: float, cap: int) -> int:
    for i in range(1, cap + 1):
        if detector.update(rng.random() < p).drift_detected:
            return i
    return cap


def test_arl0_split_is_segments_times_signals_times_updates_over_budget() -> None:
    assert arl0_per_detector(2.0, 50, 7, 10_000) == pytest.approx(50 * 7 * 10_000 / 2.0)
    # Doubling the budget halves every detector's ARL0.
    assert arl0_per_detector(4.0, 50, 7, 10_000) == pytest.approx(
        arl0_per_detector(2.0, 50, 7, 10_000) / 2
    )
    with pytest.raises(ValueError):
        arl0_per_detector(0.0, 1, 1, 1)


@pytest.mark.parametrize(("p0", "p1"), [(0.1, 0.2), (0.5, 0.6), (0.001, 0.021), (0.9, 0.8)])
def test_lattice_ratio_matches_llr_ratio(p0: float, p1: float) -> None:
    lattice = bernoulli_lattice(p0, p1)
    llr_one, llr_zero = llr_increments(p0, p1)
    assert lattice.step_one * llr_one > 0 and lattice.step_zero * llr_zero > 0
    assert lattice.step_one / lattice.step_zero == pytest.approx(llr_one / llr_zero, rel=0.01)
    assert lattice.up + lattice.down <= max(64, lattice.up + 1)


def test_exact_arl_agrees_with_monte_carlo_of_the_detector() -> None:
    p0, p1, target = 0.2, 0.4, 150.0
    design = design_bernoulli_cusum(p0, p1, target)
    rng = random.Random(99)
    runs = 3000
    in_control = [
        run_length(BernoulliCUSUM(p0=p0, p1=p1, arl0=target), rng, p0, 100_000) for _ in range(runs)
    ]
    out_of_control = [
        run_length(BernoulliCUSUM(p0=p0, p1=p1, arl0=target), rng, p1, 100_000) for _ in range(runs)
    ]
    for samples, exact in ((in_control, design.arl0), (out_of_control, design.arl1)):
        mean = float(np.mean(samples))
        standard_error = float(np.std(samples, ddof=1)) / math.sqrt(runs)
        assert abs(mean - exact) < 4 * standard_error, (mean, exact, standard_error)


def test_arl_vector_satisfies_its_recursion() -> None:
    lattice = bernoulli_lattice(0.1, 0.2)
    threshold, p = 300, 0.13
    arl = bernoulli_arl_vector(lattice, threshold, p)
    q_up = lattice.up_probability(p)
    for i in (0, 1, 5, 150, threshold - 1):
        up = arl[i + lattice.up] if i + lattice.up < threshold else 0.0
        down = arl[max(i - lattice.down, 0)]
        assert arl[i] == pytest.approx(1 + q_up * up + (1 - q_up) * down, rel=1e-9)


@pytest.mark.parametrize("target", [50.0, 1_000.0, 123_456.0])
def test_threshold_is_the_smallest_reaching_the_target(target: float) -> None:
    lattice = bernoulli_lattice(0.05, 0.1)
    threshold = bernoulli_threshold(lattice, target)
    assert bernoulli_arl(lattice, threshold, 0.05) >= target
    assert bernoulli_arl(lattice, threshold - 1, 0.05) < target


def test_worst_case_delay_for_ninety_to_eighty_percent_is_about_111() -> None:
    # The published figure for p 0.90 -> 0.80 at ARL0 = 10,000 is about 111 samples.
    for p0, p1 in ((0.1, 0.2), (0.9, 0.8)):
        design = design_bernoulli_cusum(p0, p1, 10_000)
        assert 10_000 <= design.arl0 < 10_300
        assert 110.0 < design.arl1 < 113.0
    fine = design_bernoulli_cusum(0.1, 0.2, 10_000, max_units=200)
    assert fine.arl1 == pytest.approx(111.0, abs=1.0)


def test_delay_grows_like_log_arl0() -> None:
    # Lorden: delay ~ log(ARL0) / KL, so a 100x ARL0 adds log(100) / KL samples.
    kl = 0.2 * math.log(2.0) + 0.8 * math.log(0.8 / 0.9)
    low = design_bernoulli_cusum(0.1, 0.2, 10_000).arl1
    high = design_bernoulli_cusum(0.1, 0.2, 1_000_000).arl1
    assert high - low == pytest.approx(math.log(100) / kl, rel=0.05)


def _gaussian_run_lengths(mean: float, k: float, h: float, runs: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    s = np.zeros(runs)
    lengths = np.zeros(runs, dtype=np.int64)
    alive = np.ones(runs, dtype=bool)
    t = 0
    while alive.any():
        t += 1
        idx = np.flatnonzero(alive)
        s[idx] = np.maximum(0.0, s[idx] + rng.normal(mean, 1.0, idx.size) - k)
        done = idx[s[idx] >= h]
        lengths[done] = t
        alive[done] = False
    return lengths


@pytest.mark.parametrize(("mean", "h"), [(0.0, 4.0), (1.0, 4.0), (0.0, 5.0)])
def test_siegmund_agrees_with_simulation(mean: float, h: float) -> None:
    lengths = _gaussian_run_lengths(mean, 0.5, h, runs=4000, seed=7)
    simulated = float(lengths.mean())
    error = float(lengths.std(ddof=1)) / math.sqrt(lengths.size)
    # Siegmund is an approximation: allow 4% plus sampling error.
    assert abs(siegmund_arl(mean, 0.5, h) - simulated) < 0.04 * simulated + 4 * error


def test_gaussian_threshold_inverts_siegmund() -> None:
    h = gaussian_threshold(1.0, 50_000)
    assert siegmund_arl(0.0, 0.5, h) == pytest.approx(50_000, rel=1e-6)
    assert gaussian_delay(1.0, h) < gaussian_delay(0.5, gaussian_threshold(0.5, 50_000))
