"""Running estimates with confidence intervals, and the recent-values window.

The quality signal's rows are sampled with unequal inclusion probabilities (small segments and
warm-up periods are over-sampled), so its rate is the Hajek estimator ``sum(w y) / sum(w)`` with
``w = 1 / inclusion_probability``. Its variance is the usual linearisation (Sarndal, Swensson &
Wretman 1992, 5.7), treating the sample as drawn with replacement:

    Var = n / (n - 1) * sum(w_i^2 (y_i - mean)^2) / (sum w_i)^2

With all weights equal it is the plain mean and its squared standard error. Every sum is kept
incrementally (shifted by the first value for numerical stability), so the estimate costs six
floats per signal whatever the number of rows.
"""

from __future__ import annotations

import math
from array import array
from dataclasses import dataclass

Z_95 = 1.959963984540054


@dataclass(frozen=True)
class Interval:
    """A point estimate with a two-sided 95% interval and the sample size behind it."""

    mean: float | None
    low: float | None
    high: float | None
    n: int


class WeightedMean:
    """Running Hajek (ratio) mean with a linearisation-variance interval."""

    __slots__ = ("n", "sw", "swy", "sw2", "sw2y", "sw2y2", "shift")

    def __init__(self) -> None:
        self.n = 0
        self.sw = 0.0
        self.swy = 0.0
        self.sw2 = 0.0
        self.sw2y = 0.0
        self.sw2y2 = 0.0
        self.shift = 0.0

    def add(self, y: float, w: float = 1.0) -> None:
        if w <= 0 or not math.isfinite(w):
            raise ValueError("weights must be positive and finite")
        if self.n == 0:
            self.shift = y
        d = y - self.shift
        w2 = w * w
        self.n += 1
        self.sw += w
        self.swy += w * d
        self.sw2 += w2
        self.sw2y += w2 * d
        self.sw2y2 += w2 * d * d

    @property
    def mean(self) -> float | None:
        return self.shift + self.swy / self.sw if self.n else None

    def variance(self) -> float | None:
        """Linearisation variance of the Hajek mean (``None`` below two samples)."""
        if self.n < 2:
            return None
        m = self.swy / self.sw
        ss = self.sw2y2 - 2.0 * m * self.sw2y + m * m * self.sw2
        return max(ss, 0.0) / (self.sw * self.sw) * self.n / (self.n - 1)

    def interval(self, z: float = Z_95) -> Interval:
        mean, var = self.mean, self.variance()
        if mean is None or var is None:
            return Interval(mean, None, None, self.n)
        half = z * math.sqrt(var)
        return Interval(mean, mean - half, mean + half, self.n)

    def __getstate__(self) -> tuple[float, ...]:
        return (self.n, self.sw, self.swy, self.sw2, self.sw2y, self.sw2y2, self.shift)

    def __setstate__(self, state: tuple[float, ...]) -> None:
        n, self.sw, self.swy, self.sw2, self.sw2y, self.sw2y2, self.shift = state
        self.n = int(n)


def wilson_interval(successes: float, n: float, z: float = Z_95) -> Interval:
    """Wilson score interval for a binomial rate (sound at small ``n`` and rates near 0 or 1).

    >>> iv = wilson_interval(10, 100)
    >>> round(iv.low, 3), round(iv.high, 3)
    (0.055, 0.174)
    """
    if n <= 0:
        return Interval(None, None, None, 0)
    p = successes / n
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    # At 0 or n successes the bound is exactly 0 or 1; the formula leaves rounding dust.
    low = 0.0 if successes <= 0 else max(0.0, centre - half)
    high = 1.0 if successes >= n else min(1.0, centre + half)
    return Interval(p, low, high, int(n))


def normal_interval(mean: float, std: float | None, n: int, z: float = Z_95) -> Interval:
    """``mean +- z * std / sqrt(n)``; no bounds without a usable standard deviation.

    >>> iv = normal_interval(10.0, 2.0, 16)
    >>> round(iv.low, 3), round(iv.high, 3)
    (9.02, 10.98)
    """
    if n <= 0 or std is None or not math.isfinite(std) or std < 0 or not math.isfinite(mean):
        return Interval(mean if math.isfinite(mean) else None, None, None, max(n, 0))
    half = z * std / math.sqrt(n)
    return Interval(mean, mean - half, mean + half, n)


def difference(a: Interval, b: Interval, z: float = Z_95) -> Interval:
    """``a - b`` with the half-widths combined as independent (conservative when the two
    estimates are positively correlated, as gap and noise rates on shared prompts are)."""
    if a.mean is None or b.mean is None:
        return Interval(None, None, None, a.n)
    mean = a.mean - b.mean
    if None in (a.low, a.high, b.low, b.high):
        return Interval(mean, None, None, a.n)
    half_a = (a.high - a.low) / 2.0  # type: ignore[operator]
    half_b = (b.high - b.low) / 2.0  # type: ignore[operator]
    half = math.hypot(half_a, half_b)
    return Interval(mean, mean - half, mean + half, a.n)


class RecentWindow:
    """The last ``capacity`` values in a fixed ring buffer (8 bytes a value)."""

    __slots__ = ("capacity", "buffer", "pos", "count")

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("capacity must be positive")
        self.capacity = capacity
        self.buffer = array("d", bytes(8 * capacity))
        self.pos = 0
        self.count = 0

    def add(self, value: float) -> None:
        self.buffer[self.pos] = value
        self.pos = (self.pos + 1) % self.capacity
        self.count = min(self.count + 1, self.capacity)

    def values(self) -> list[float]:
        """Oldest first."""
        if self.count < self.capacity:
            return list(self.buffer[: self.count])
        return list(self.buffer[self.pos :]) + list(self.buffer[: self.pos])

    def tail(self, m: int) -> list[float]:
        """The most recent ``min(m, count)`` values, oldest first."""
        values = self.values()
        return values[len(values) - min(m, len(values)) :]

    def mean(self) -> float | None:
        return math.fsum(self.values()) / self.count if self.count else None

    def resized(self, capacity: int) -> RecentWindow:
        """A window of another capacity holding the most recent values of this one."""
        if capacity == self.capacity:
            return self
        window = RecentWindow(capacity)
        for value in self.tail(capacity):
            window.add(value)
        return window

    def __getstate__(self) -> tuple[int, bytes, int, int]:
        return (self.capacity, self.buffer.tobytes(), self.pos, self.count)

    def __setstate__(self, state: tuple[int, bytes, int, int]) -> None:
        self.capacity, raw, self.pos, self.count = state
        self.buffer = array("d")
        self.buffer.frombytes(raw)
