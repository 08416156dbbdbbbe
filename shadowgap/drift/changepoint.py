"""Before/after evidence for a CUSUM alarm, from the CUSUM's own change-point estimate.

A one-sided CUSUM's statistic was last at zero just before the change it alarms on: the last
zero is the maximum-likelihood change point (Page 1954; Hinkley 1971). Keeping the sample count
and raw-value sum at that moment costs two numbers per update and splits the samples since the
last reset into "before" and "after" without storing them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ChangeSummary:
    """Means and sample counts on either side of the estimated change point (raw units)."""

    before_n: int
    before_mean: float | None
    after_n: int
    after_mean: float | None

    @property
    def change_index(self) -> int:
        """Samples since the last reset at which the change is estimated to have begun."""
        return self.before_n


class ChangeTracker:
    """Running count/sum since the last reset, plus both at the statistic's last zero."""

    __slots__ = ("n", "total", "n_at_zero", "total_at_zero")

    def __init__(self) -> None:
        self.n = 0
        self.total = 0.0
        self.n_at_zero = 0
        self.total_at_zero = 0.0

    def add(self, value: float, count: int = 1) -> None:
        """Record ``count`` samples that sum to ``value``."""
        self.n += count
        self.total += value

    def mark_zero(self) -> None:
        """The statistic is at zero after the latest sample: the change, if any, is later."""
        self.n_at_zero = self.n
        self.total_at_zero = self.total

    def summary(self) -> ChangeSummary:
        before_n = self.n_at_zero
        after_n = self.n - self.n_at_zero
        return ChangeSummary(
            before_n=before_n,
            before_mean=self.total_at_zero / before_n if before_n else None,
            after_n=after_n,
            after_mean=(self.total - self.total_at_zero) / after_n if after_n else None,
        )

    def __getstate__(self) -> tuple[int, float, int, float]:
        return (self.n, self.total, self.n_at_zero, self.total_at_zero)

    def __setstate__(self, state: tuple[int, float, int, float]) -> None:
        self.n, self.total, self.n_at_zero, self.total_at_zero = state
