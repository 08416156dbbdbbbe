"""The detector registry: every name builds, River detectors get their warm-up parameter."""

from __future__ import annotations

import random

import pytest
from river.base import BinaryDriftDetector, DriftDetector

from shadowgap.drift import DETECTORS, BernoulliCUSUM, TwoSidedCUSUM, build_detector
from shadowgap.drift.registry import BINARY_DETECTORS, retarget


@pytest.mark.parametrize("name", sorted(DETECTORS))
def test_every_detector_builds_and_detects_a_large_shift(name: str) -> None:
    detector = build_detector(name, {"warmup": 200}, arl0=10_000)
    assert isinstance(detector, DriftDetector | BinaryDriftDetector)
    rng = random.Random(0)
    if name in BINARY_DETECTORS:
        stream = [rng.random() < 0.1 for _ in range(1000)]
        stream += [rng.random() < 0.6 for _ in range(1000)]
    else:
        stream = [rng.gauss(0, 1) for _ in range(1000)] + [rng.gauss(3, 1) for _ in range(1000)]
    hits = []
    for i, x in enumerate(stream):
        detector.update(x)
        if detector.drift_detected:
            hits.append(i)
    # Some River detectors raise early false alarms; all must catch this shift quickly.
    assert any(1000 <= hit < 1300 for hit in hits), hits


@pytest.mark.parametrize(
    ("name", "attribute", "value"),
    [
        ("adwin", "grace_period", 77),
        ("page_hinkley", "min_instances", 77),
        ("ddm", "warm_start", 77),
    ],
)
def test_warmup_maps_to_river_parameter(name: str, attribute: str, value: int) -> None:
    assert getattr(build_detector(name, {"warmup": value}), attribute) == value


def test_explicit_river_parameter_wins_over_warmup() -> None:
    assert build_detector("adwin", {"warmup": 5, "grace_period": 9}).grace_period == 9


def test_two_sided_cusum_from_params_splits_arl0() -> None:
    detector = build_detector("bernoulli_cusum", {"two_sided": True, "shift": 0.1, "warmup": 10})
    assert isinstance(detector, TwoSidedCUSUM)
    built = build_detector("bernoulli_cusum", {"two_sided": True, "shift": 0.1}, arl0=5_000)
    assert built.upper.arl0 == built.lower.arl0 == 10_000


def test_params_mapping_is_not_mutated() -> None:
    params = {"two_sided": True, "shift": 0.1, "warmup": 10}
    build_detector("bernoulli_cusum", params)
    assert params == {"two_sided": True, "shift": 0.1, "warmup": 10}


def test_unknown_name_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown detector"):
        build_detector("kswin")


def test_retarget_changes_cusum_and_ignores_river() -> None:
    cusum = build_detector("bernoulli_cusum", {"p0": 0.1, "p1": 0.2}, arl0=1_000)
    assert isinstance(cusum, BernoulliCUSUM)
    before = cusum.threshold
    retarget(cusum, 1_000_000)
    assert cusum.threshold is not None and before is not None and cusum.threshold > before
    retarget(build_detector("adwin"), 1_000_000)  # no ARL parameter: nothing to do
