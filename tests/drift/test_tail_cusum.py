"""The tail-latency CUSUM catches a tail that moves while the mean barely does."""

from __future__ import annotations

import json
import random

from shadowgap.drift import SIGNALS, build_detector
from shadowgap.drift.codec import dumps, loads


def _latency(rng: random.Random, slow_share: float) -> float:
    slow = rng.random() < slow_share
    return rng.lognormvariate(6.9, 0.3) + (2500.0 if slow else 0.0)


def _first_alarm(detector, stream: list[float]) -> int | None:  # type: ignore[no-untyped-def]
    for i, x in enumerate(stream):
        if detector.update(x).drift_detected:
            return i
    return None


def test_tail_only_change_is_caught_before_the_mean_cusum() -> None:
    rng = random.Random(11)
    stream = [_latency(rng, 0.01) for _ in range(3000)] + [_latency(rng, 0.06) for _ in range(6000)]
    spec = SIGNALS["tail_latency"]
    tail = build_detector(spec.detector, spec.params, arl0=100_000)
    mean = build_detector(SIGNALS["latency"].detector, SIGNALS["latency"].params, arl0=100_000)
    tail_at, mean_at = _first_alarm(tail, stream), _first_alarm(mean, stream)
    assert tail_at is not None and 3000 <= tail_at < 5000
    assert mean_at is None or mean_at > tail_at
    summary = tail.change_summary()
    # Raw units: mean latency before and after the estimated change point.
    assert 900 < summary.before_mean < 1200 and summary.after_mean > summary.before_mean


def test_no_alarm_on_a_stationary_stream_and_state_round_trips_as_json() -> None:
    rng = random.Random(12)
    spec = SIGNALS["tail_latency"]
    tail = build_detector(spec.detector, spec.params, arl0=1_000_000)
    stationary = [_latency(rng, 0.02) for _ in range(20_000)]
    assert _first_alarm(tail, stationary[:10_000]) is None
    restored = loads(json.loads(json.dumps(dumps(tail))))
    assert restored.level == tail.level and not restored.warming_up
    assert _first_alarm(restored, stationary[10_000:]) is None
    assert restored.exceedance[0] is not None and 0.02 < restored.exceedance[0] < 0.09
