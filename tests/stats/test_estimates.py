"""Running estimates, the recent window and the per-signal value streams."""

from __future__ import annotations

import pickle
import random
from types import SimpleNamespace

import numpy as np
import pytest

from shadowgap.drift import SIGNALS
from shadowgap.drift.signals import event_values, quality_stream, traffic_gaps
from shadowgap.stats.estimates import RecentWindow, WeightedMean, wilson_interval
from shadowgap.stats.excess_gap import WeightedSums, excess_gap, sums_of


def test_weighted_mean_matches_direct_hajek_formula() -> None:
    rng = np.random.default_rng(3)
    y = rng.normal(1e6, 5.0, 500)  # large offset: the shifted sums must stay accurate
    w = 1.0 / rng.uniform(0.01, 0.5, 500)
    acc = WeightedMean()
    for value, weight in zip(y, w, strict=True):
        acc.add(float(value), float(weight))
    mean = np.sum(w * y) / np.sum(w)
    variance = np.sum(w**2 * (y - mean) ** 2) / np.sum(w) ** 2 * 500 / 499
    assert acc.mean == pytest.approx(mean, rel=1e-12)
    assert acc.variance() == pytest.approx(variance, rel=1e-6)
    restored = pickle.loads(pickle.dumps(acc))
    assert restored.interval() == acc.interval()


def test_hajek_interval_covers_the_truth_about_95_percent() -> None:
    rng = random.Random(17)
    covered, trials = 0, 400
    for _ in range(trials):
        values, probabilities = [], []
        for _ in range(3000):
            small = rng.random() < 0.3  # a small, over-sampled stratum with a higher rate
            probability = 0.2 if small else 0.02
            if rng.random() < probability:
                values.append(1.0 if rng.random() < (0.5 if small else 0.1) else 0.0)
                probabilities.append(probability)
        acc = WeightedMean()
        for value, probability in zip(values, probabilities, strict=True):
            acc.add(value, 1.0 / probability)
        interval = acc.interval()
        covered += interval.low <= 0.3 * 0.5 + 0.7 * 0.1 <= interval.high
    assert 0.91 <= covered / trials <= 0.98


def test_wilson_interval_edges() -> None:
    assert wilson_interval(0, 50).low == 0.0
    assert wilson_interval(50, 50).high == 1.0
    assert wilson_interval(0, 0).mean is None
    interval = wilson_interval(30, 100)
    assert interval.low < 0.3 < interval.high


def test_detector_excess_gap_is_the_stats_module_one() -> None:
    """The drift state reports the same excess gap as the views' WeightedSums path."""
    gap, noise = WeightedMean(), WeightedMean()
    for i in range(400):
        gap.add(1.0 if i % 4 == 0 else 0.0, 10.0)
    for i in range(100):
        noise.add(1.0 if i % 10 == 0 else 0.0, 10.0)
    from_state = excess_gap(sums_of(gap), sums_of(noise), WeightedSums())
    direct = excess_gap(
        WeightedSums(400, 4000.0, 1000.0, 40_000.0, 10_000.0),
        WeightedSums(100, 1000.0, 100.0, 10_000.0, 1_000.0),
        WeightedSums(),
    )
    assert from_state == direct
    assert from_state.excess == pytest.approx(0.25 - 0.10)
    # Same linearisation variance as WeightedMean (n/(n-1) included).
    assert sums_of(gap).variance == pytest.approx(gap.variance())


def test_recent_window_keeps_the_last_values_in_order() -> None:
    window = RecentWindow(3)
    assert window.mean() is None
    for value in [1.0, 2.0, 3.0, 4.0, 5.0]:
        window.add(value)
    assert window.values() == [3.0, 4.0, 5.0]
    assert window.tail(2) == [4.0, 5.0]
    assert window.mean() == pytest.approx(4.0)
    restored = pickle.loads(pickle.dumps(window))
    assert restored.values() == [3.0, 4.0, 5.0]
    assert window.resized(2).values() == [4.0, 5.0]
    assert window.resized(5).values() == [3.0, 4.0, 5.0]


def _event(**overrides: object) -> SimpleNamespace:
    row = {
        "id": 1,
        "is_cheap": True,
        "latency_ms": 120.0,
        "escalated": False,
        "status": "ok",
        "refused": False,
        "cost_usd": 0.002,
    }
    row.update(overrides)
    return SimpleNamespace(**row)


@pytest.mark.parametrize(
    ("signal", "overrides", "expected"),
    [
        ("routing_share", {"is_cheap": True}, 1.0),
        ("routing_share", {"is_cheap": False}, 0.0),
        ("latency", {"latency_ms": 87.5}, 87.5),
        ("latency", {"latency_ms": None}, None),
        ("escalation_rate", {"escalated": True}, 1.0),
        ("error_rate", {"status": "error"}, 1.0),
        ("error_rate", {"refused": True}, 1.0),
        ("error_rate", {}, 0.0),
        ("cost_per_request", {"cost_usd": 0.5}, 0.5),
        ("cost_per_request", {"cost_usd": None}, None),
    ],
)
def test_event_values(signal: str, overrides: dict, expected: float | None) -> None:
    values = event_values(SIGNALS[signal], [_event(id=7, **overrides)])
    assert values == ([] if expected is None else [(7, expected)])


def test_traffic_gaps_count_other_segments_between_events() -> None:
    assert traffic_gaps([5, 6, 20], previous_id=None) == [(5, 1), (6, 1), (20, 14)]
    with pytest.raises(ValueError):
        traffic_gaps([5, 5], previous_id=None)


def test_quality_stream_weights_and_kinds() -> None:
    rows = [
        SimpleNamespace(
            id=1, event_pk=10, kind="gap", winner="flagship", inclusion_probability=0.5
        ),
        SimpleNamespace(id=2, event_pk=10, kind="noise", winner="tie", inclusion_probability=0.5),
        SimpleNamespace(
            id=3, event_pk=11, kind="other", winner="flagship", inclusion_probability=1
        ),
        SimpleNamespace(id=4, event_pk=12, kind="gap", winner="cheap", inclusion_probability=0.0),
    ]
    stream = quality_stream(rows)
    assert stream[:2] == [("gap", 10, 1.0, 2.0), ("noise", 10, 0.0, 2.0)]
    assert len(stream) == 3 and stream[2][:3] == ("gap", 12, 0.0)
    assert stream[2][3] == pytest.approx(1e6)  # clamped, not a division by zero


def test_every_signal_builds_its_detector() -> None:
    from shadowgap.drift.state import SignalState

    for spec in SIGNALS.values():
        state = SignalState(spec, arl0=1e6, window=10)
        # Only the Gaussian and all-traffic CUSUMs still learn their level before watching
        # (and the tail CUSUM its baseline p95); the Bernoulli signals of a segment are
        # watched from its first sample (GLR).
        learners = ("gaussian_cusum", "bernoulli_cusum", "tail_cusum")
        assert state.warming_up == (spec.detector in learners)
        assert state.estimate()["n"] == 0
