"""Tail-latency CUSUM: a Bernoulli CUSUM on exceeding the segment's own baseline p95.

A cascade that escalates a few more requests moves the tail of the latency distribution while
the mean (and the log-mean the latency signal tests) barely moves. This detector watches the
tail directly: its first ``warmup`` latencies fix the segment's baseline ``quantile`` (p95 by
default); from then on each latency becomes a 1 when it exceeds that baseline and a 0 when it
does not, fed to a :class:`~shadowgap.drift.bernoulli_cusum.BernoulliCUSUM` that learns the
in-control exceedance rate (about 5%) in its own warm-up and alarms when it grows by ``ratio``
(5% -> 10% with the default 2). The threshold comes from the exact Bernoulli design, so the
false-alarm budget carries over unchanged.

A reset (after an alarm is handled) forgets the baseline: the next regime's p95 is learned
anew. The before/after evidence is in raw units, like the other latency signal's: mean latency
on either side of the CUSUM's last zero (the change-point estimate), so that an alert compares
like with like when it checks for recovery.

>>> import random
>>> rng = random.Random(7)
>>> tail = TailCUSUM(warmup=300, arl0=10_000)
>>> def latency(extra_tail):
...     slow = rng.random() < (0.02 + extra_tail)
...     return rng.lognormvariate(6.9, 0.3) + (2500 if slow else 0)
>>> stream = [latency(0.0) for _ in range(1500)] + [latency(0.08) for _ in range(1500)]
>>> next(i for i, x in enumerate(stream) if tail.update(x).drift_detected) > 1500
True
"""

from __future__ import annotations

import math

import numpy as np
from river.base import DriftDetector

from shadowgap.drift.bernoulli_cusum import BernoulliCUSUM
from shadowgap.drift.changepoint import ChangeSummary, ChangeTracker


class TailCUSUM(DriftDetector):
    def __init__(
        self,
        *,
        quantile: float = 0.95,
        ratio: float = 2.0,
        warmup: int = 500,
        arl0: float | None = None,
    ) -> None:
        super().__init__()
        if not 0.5 <= quantile < 1.0:
            raise ValueError("quantile must lie in [0.5, 1)")
        if warmup < 20:
            raise ValueError("the baseline quantile needs a warm-up of at least 20 samples")
        self.quantile = quantile
        self.ratio = ratio
        self.warmup = warmup
        self.arl0 = arl0
        self._reset()

    def _reset(self) -> None:
        super()._reset()
        self._sample: list[float] = []
        self.level: float | None = None
        self._tracker = ChangeTracker()
        self._inner = BernoulliCUSUM(
            direction="up", ratio=self.ratio, warmup=self.warmup, arl0=self.arl0
        )

    def set_arl0(self, arl0: float) -> None:
        self.arl0 = arl0
        self._inner.set_arl0(arl0)

    # River annotates update() as returning None; returning self allows chaining.
    def update(self, x: float) -> TailCUSUM:  # type: ignore[override]
        if not math.isfinite(x):
            return self
        if self.level is None:
            self._sample.append(float(x))
            if len(self._sample) >= self.warmup:
                self.level = float(np.quantile(self._sample, self.quantile))
                self._sample = []
            return self
        self._inner.update(1 if x > self.level else 0)
        self._tracker.add(float(x))
        if self._inner.warming_up or self._inner.statistic <= 0:
            self._tracker.mark_zero()
        self._drift_detected = self._inner.drift_detected
        return self

    @property
    def warming_up(self) -> bool:
        return self.level is None or self._inner.warming_up

    @property
    def statistic(self) -> float:
        return self._inner.statistic

    @property
    def threshold(self) -> float | None:
        return self._inner.threshold

    @property
    def exceedance(self) -> tuple[float | None, int]:
        """The in-control rate of exceeding the baseline quantile, and its sample count."""
        return self._inner.baseline

    def change_summary(self) -> ChangeSummary:
        """Mean latency before and after the estimated change point."""
        return self._tracker.summary()
