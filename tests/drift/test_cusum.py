"""The project's CUSUMs: pinned detection indices on seeded streams, and their invariants."""

from __future__ import annotations

import math
import pickle
import random

import pytest

from shadowgap.drift import (
    BernoulliCUSUM,
    GaussianCUSUM,
    TwoSidedCUSUM,
    arl0_per_detector,
    design_bernoulli_cusum,
)
from shadowgap.drift.budget import bernoulli_arl


def first_detection(detector: object, stream: list) -> int | None:
    for i, x in enumerate(stream):
        detector.update(x)  # type: ignore[attr-defined]
        if detector.drift_detected:  # type: ignore[attr-defined]
            return i
    return None


def bernoulli_stream(seed: int, p0: float, p1: float, n0: int = 2000, n1: int = 2000) -> list:
    rng = random.Random(seed)
    return [rng.random() < p0 for _ in range(n0)] + [rng.random() < p1 for _ in range(n1)]


def gaussian_stream(seed: int, m0: float, m1: float, sd: float, n: int = 2000) -> list[float]:
    rng = random.Random(seed)
    return [rng.gauss(m0, sd) for _ in range(n)] + [rng.gauss(m1, sd) for _ in range(n)]


def latency_stream(seed: int) -> list[float]:
    rng = random.Random(seed)
    before = [rng.lognormvariate(5.0, 0.4) for _ in range(2000)]
    return before + [rng.lognormvariate(5.3, 0.4) for _ in range(2000)]


# --- pinned indices (change at index 2000 in every stream) ---------------------------------


@pytest.mark.parametrize(("seed", "expected"), [(1, 2039), (2, 2213), (3, 2128)])
def test_bernoulli_known_rates_pinned(seed: int, expected: int) -> None:
    cusum = BernoulliCUSUM(p0=0.1, p1=0.2, arl0=10_000)
    assert first_detection(cusum, bernoulli_stream(seed, 0.1, 0.2)) == expected


@pytest.mark.parametrize(("seed", "expected"), [(1, 2135), (2, 2215), (3, 2223)])
def test_bernoulli_warmup_pinned(seed: int, expected: int) -> None:
    cusum = BernoulliCUSUM(shift=0.1, arl0=100_000, warmup=500)
    assert first_detection(cusum, bernoulli_stream(seed, 0.3, 0.45)) == expected


@pytest.mark.parametrize(("seed", "expected"), [(1, 2122), (2, 2110), (3, 2107)])
def test_bernoulli_down_ratio_pinned(seed: int, expected: int) -> None:
    cusum = BernoulliCUSUM(direction="down", ratio=2.0, arl0=100_000, warmup=500)
    assert first_detection(cusum, bernoulli_stream(seed, 0.2, 0.08)) == expected


@pytest.mark.parametrize(("seed", "expected"), [(1, 2024), (2, 2015), (3, 2047)])
def test_gaussian_up_pinned(seed: int, expected: int) -> None:
    cusum = GaussianCUSUM(1.0, arl0=100_000, warmup=300)
    assert first_detection(cusum, gaussian_stream(seed, 5.0, 6.0, 1.0)) == expected


@pytest.mark.parametrize(("seed", "expected"), [(2, 2092), (3, 2030), (4, 2057)])
def test_gaussian_down_pinned(seed: int, expected: int) -> None:
    cusum = GaussianCUSUM(-0.5, arl0=100_000, warmup=300)
    assert first_detection(cusum, gaussian_stream(seed, 5.0, 4.5, 1.0)) == expected


@pytest.mark.parametrize(("seed", "expected"), [(1, 2033), (2, 2045), (3, 2045)])
def test_gaussian_log1p_pinned(seed: int, expected: int) -> None:
    cusum = GaussianCUSUM(0.5, arl0=100_000, warmup=500, transform="log1p")
    assert first_detection(cusum, latency_stream(seed)) == expected


@pytest.mark.parametrize(("seed", "expected"), [(1, 2275), (2, 2103), (3, 2110)])
def test_two_sided_bernoulli_pinned(seed: int, expected: int) -> None:
    cusum = TwoSidedCUSUM.bernoulli(shift=0.1, arl0=100_000, warmup=500)
    assert first_detection(cusum, bernoulli_stream(seed, 0.5, 0.35)) == expected
    assert cusum.fired == "down"


@pytest.mark.parametrize(("seed", "expected"), [(1, 2066), (2, 2303), (3, 2030)])
def test_two_sided_gaussian_pinned(seed: int, expected: int) -> None:
    cusum = TwoSidedCUSUM.gaussian(1.0, arl0=100_000, warmup=300)
    assert first_detection(cusum, gaussian_stream(seed, 0.0, -1.0, 2.0)) == expected
    assert cusum.fired == "down"


# --- behaviour ------------------------------------------------------------------------------


def test_update_returns_self_and_flag_is_read_only() -> None:
    cusum = BernoulliCUSUM(p0=0.1, p1=0.2)
    assert cusum.update(True) is cusum
    with pytest.raises(AttributeError):
        cusum.drift_detected = True  # type: ignore[misc]


def test_no_detection_during_warmup() -> None:
    cusum = BernoulliCUSUM(shift=0.05, arl0=1_000, warmup=300)
    stream = [False] * 150 + [True] * 149
    assert first_detection(cusum, stream) is None
    assert cusum.warming_up
    cusum.update(True)
    assert not cusum.warming_up


def test_gaussian_one_absurd_value_does_not_fire_but_a_lasting_jump_does() -> None:
    cusum = GaussianCUSUM(1.0, arl0=10_000, warmup=50)
    rng = random.Random(5)
    assert first_detection(cusum, [rng.gauss(0, 1) for _ in range(50)]) is None
    assert not cusum.warming_up
    # One value 1e300 sigma away is clipped at 4 sigma: no alarm on its own.
    assert first_detection(cusum, [1e300]) is None
    assert first_detection(cusum, [100.0] * 3) is not None


def test_gaussian_refuses_non_finite_values() -> None:
    with pytest.raises(ValueError, match="finite"):
        GaussianCUSUM(1.0, arl0=10_000, warmup=5).update(math.inf)


def test_threshold_matches_exact_design() -> None:
    cusum = BernoulliCUSUM(p0=0.1, p1=0.2, arl0=10_000)
    design = design_bernoulli_cusum(0.1, 0.2, 10_000)
    assert cusum.design == design
    assert cusum.threshold == pytest.approx(design.h)


def test_explicit_h_used_as_threshold() -> None:
    cusum = BernoulliCUSUM(p0=0.1, p1=0.2, h=3.0)
    assert cusum.threshold == pytest.approx(3.0, abs=1.0 / 9.6)  # one lattice unit
    assert cusum.threshold >= 3.0


def test_change_summary_splits_at_the_change() -> None:
    cusum = BernoulliCUSUM(p0=0.1, p1=0.2, arl0=10_000)
    stream = bernoulli_stream(11, 0.1, 0.3)
    index = first_detection(cusum, stream)
    assert index is not None and index >= 2000
    summary = cusum.change_summary()
    assert summary.before_n + summary.after_n == index + 1
    assert abs(summary.change_index - 2000) < 100
    assert summary.before_mean == pytest.approx(0.1, abs=0.03)
    assert summary.after_mean is not None and summary.after_mean > summary.before_mean + 0.05


def test_reset_after_detection_tracks_new_level() -> None:
    cusum = BernoulliCUSUM(shift=0.1, arl0=1_000_000, warmup=500)
    stream = bernoulli_stream(21, 0.2, 0.5, n0=2000, n1=30_000)
    detections = []
    for i, x in enumerate(stream):
        if cusum.update(x).drift_detected:
            detections.append(i)
    assert len(detections) == 1
    assert 0.45 < (cusum.rates[0] or 0) < 0.55


def test_set_arl0_moves_threshold_keeps_statistic() -> None:
    cusum = BernoulliCUSUM(p0=0.1, p1=0.2, arl0=1_000)
    for x in [True, True, False]:
        cusum.update(x)
    before, statistic = cusum.threshold, cusum.statistic
    cusum.set_arl0(1_000_000)
    assert cusum.threshold is not None and before is not None and cusum.threshold > before
    assert cusum.statistic == statistic


def test_pickle_round_trip_continues_identically() -> None:
    stream = bernoulli_stream(8, 0.3, 0.45)
    live = BernoulliCUSUM(shift=0.1, arl0=100_000, warmup=500)
    for x in stream[:1500]:
        live.update(x)
    restored = pickle.loads(pickle.dumps(live))
    assert first_detection(restored, stream[1500:]) == first_detection(live, stream[1500:])


@pytest.mark.parametrize("direction", ["up", "down"])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_update_zeros_equals_one_by_one(direction: str, seed: int) -> None:
    rng = random.Random(seed)
    one_by_one = BernoulliCUSUM(direction=direction, ratio=2.0, arl0=5_000, warmup=200)
    batched = BernoulliCUSUM(direction=direction, ratio=2.0, arl0=5_000, warmup=200)
    hits_single, hits_batched, index = [], [], 0
    for _ in range(3000):
        zeros = int(rng.expovariate(1 / 15))
        for _ in range(zeros):
            if one_by_one.update(0).drift_detected:
                hits_single.append(index)
            index += 1
        if one_by_one.update(1).drift_detected:
            hits_single.append(index)
        index += 1
    rng = random.Random(seed)
    index = 0
    for _ in range(3000):
        zeros = int(rng.expovariate(1 / 15))
        while zeros:
            consumed = batched.update_zeros(zeros)
            index += consumed
            zeros -= consumed
            if batched.drift_detected:
                hits_batched.append(index - 1)
        if batched.update(1).drift_detected:
            hits_batched.append(index)
        index += 1
    assert hits_batched == hits_single
    assert batched.statistic == pytest.approx(one_by_one.statistic)


def test_two_sided_update_zeros_equals_one_by_one() -> None:
    rng = random.Random(4)
    gaps = [int(rng.expovariate(1 / 20)) for _ in range(3000)]
    gaps += [int(rng.expovariate(1 / 60)) for _ in range(1000)]  # share falls to a third
    single = TwoSidedCUSUM.bernoulli(ratio=2.0, arl0=50_000, warmup=500)
    batched = TwoSidedCUSUM.bernoulli(ratio=2.0, arl0=50_000, warmup=500)
    hits_single, hits_batched, index = [], [], 0
    for zeros in gaps:
        for x in [0] * zeros + [1]:
            if single.update(x).drift_detected:
                hits_single.append(index)
            index += 1
    index = 0
    for zeros in gaps:
        while zeros:
            consumed = batched.update_zeros(zeros)
            index += consumed
            zeros -= consumed
            if batched.drift_detected:
                hits_batched.append(index - 1)
        if batched.update(1).drift_detected:
            hits_batched.append(index)
        index += 1
    assert hits_single and hits_batched == hits_single


# --- a long stationary stream raises nothing at the budgeted threshold ----------------------

# 100 segments x 7 signals x 100k updates a week for 1 false alarm a week.
BUDGET_ARL0 = arl0_per_detector(1.0, n_segments=100, n_signals=7, updates_per_week=100_000)


def test_budget_makes_100k_stationary_false_alarm_unlikely() -> None:
    # The test below is only meaningful if a false alarm in 100k samples is rare by design.
    design = design_bernoulli_cusum(0.1, 0.2, BUDGET_ARL0)
    assert bernoulli_arl(design.lattice, design.threshold, 0.1) >= BUDGET_ARL0
    assert 100_000 / design.arl0 < 0.01


@pytest.mark.parametrize(
    "detector",
    [
        BernoulliCUSUM(p0=0.1, p1=0.2, arl0=BUDGET_ARL0),
        BernoulliCUSUM(shift=0.1, arl0=BUDGET_ARL0, warmup=500),
        TwoSidedCUSUM.bernoulli(shift=0.1, arl0=BUDGET_ARL0, warmup=500),
    ],
    ids=["bernoulli-known", "bernoulli-warmup", "two-sided-bernoulli"],
)
def test_stationary_bernoulli_100k_no_alarm(detector: object) -> None:
    rng = random.Random(2024)
    stream = [rng.random() < 0.1 for _ in range(100_000)]
    assert first_detection(detector, stream) is None


@pytest.mark.parametrize(
    "detector",
    [
        GaussianCUSUM(0.5, arl0=BUDGET_ARL0, mean=0.0, std=1.0),
        GaussianCUSUM(0.5, arl0=BUDGET_ARL0, warmup=1000),
        TwoSidedCUSUM.gaussian(0.5, arl0=BUDGET_ARL0, warmup=1000),
    ],
    ids=["gaussian-known", "gaussian-warmup", "two-sided-gaussian"],
)
def test_stationary_gaussian_100k_no_alarm(detector: object) -> None:
    rng = random.Random(2025)
    stream = [rng.gauss(0.0, 1.0) for _ in range(100_000)]
    assert first_detection(detector, stream) is None


@pytest.mark.parametrize(
    "kwargs",
    [
        {"p0": 0.1, "p1": 0.1},
        {"p0": 0.0, "p1": 0.2},
        {"p1": 0.2},
        {"shift": 0.1, "ratio": 2.0},
        {"ratio": 0.5},
        {"direction": "sideways"},
        {"h": -1.0},
    ],
)
def test_bernoulli_rejects_bad_parameters(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        BernoulliCUSUM(**kwargs)


@pytest.mark.parametrize(
    "kwargs",
    [{"delta": 0.0}, {"mean": 1.0}, {"mean": 0.0, "std": 0.0}, {"transform": "sqrt"}],
)
def test_gaussian_rejects_bad_parameters(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        GaussianCUSUM(**kwargs)
