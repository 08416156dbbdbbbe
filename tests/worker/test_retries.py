"""The one retry policy: backoff, cap, Retry-After and jitter per kind of failure."""

from __future__ import annotations

from shadowgap.worker.retries import DELIVERIES, MODEL_CALLS, REPORT_SUMMARY


def test_model_calls_back_off_from_30_seconds_uncapped() -> None:
    for retries, base in [(0, 30.0), (2, 120.0), (4, 480.0)]:
        waits = [MODEL_CALLS.countdown(retries) for _ in range(200)]
        assert base * 0.8 <= min(waits) and max(waits) <= base * 1.2
        assert max(waits) - min(waits) > base * 0.1  # spread, so failed jobs do not return together


def test_deliveries_are_capped_at_ten_minutes() -> None:
    assert all(DELIVERIES.countdown(20) <= 600.0 * 1.2 for _ in range(100))
    assert all(DELIVERIES.countdown(0) <= 1.2 for _ in range(100))


def test_retry_after_is_a_floor() -> None:
    assert all(MODEL_CALLS.countdown(0, retry_after=300.0) >= 300.0 * 0.8 for _ in range(100))
    assert all(DELIVERIES.countdown(0, retry_after=90.0) >= 90.0 * 0.8 for _ in range(100))


def test_the_report_summary_waits_a_fixed_minute() -> None:
    assert {REPORT_SUMMARY.countdown(n) for n in range(6)} == {60.0}
