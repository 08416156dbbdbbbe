"""The one retry policy: backoff, cap, Retry-After and jitter per kind of failure."""

from __future__ import annotations

from shadowgap.errors import FlagshipError
from shadowgap.worker.app import app
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


def _failing_task(name: str, transient: bool, seen: list[int]):  # type: ignore[no-untyped-def]
    """A real task on the worker's app, run eagerly, whose model call always fails."""

    @app.task(name=name, **MODEL_CALLS.task_options(soft_time_limit=5, time_limit=10))
    def call(self) -> str:  # type: ignore[no-untyped-def]
        seen.append(int(self.request.retries))
        try:
            raise FlagshipError("429 from the endpoint", transient=transient, retry_after=0.0)
        except FlagshipError as exc:
            MODEL_CALLS.retry_transient(self, exc)
        return "failure recorded"

    return call


def test_a_transient_model_failure_is_retried_until_the_retries_run_out() -> None:
    seen: list[int] = []
    task = _failing_task("tests.transient_model_failure", True, seen)
    assert task.apply().get() == "failure recorded"
    assert seen == list(range(MODEL_CALLS.max_retries + 1))


def test_a_permanent_model_failure_is_not_retried() -> None:
    seen: list[int] = []
    task = _failing_task("tests.permanent_model_failure", False, seen)
    assert task.apply().get() == "failure recorded"
    assert seen == [0]


def test_task_options_carry_the_policy() -> None:
    options = DELIVERIES.task_options(soft_time_limit=60, time_limit=90)
    assert options == {
        "bind": True,
        "acks_late": True,
        "max_retries": DELIVERIES.max_retries,
        "soft_time_limit": 60,
        "time_limit": 90,
    }
