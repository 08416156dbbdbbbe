"""Self-starting Bernoulli GLR: a rate change detected without knowing the level before it."""

from __future__ import annotations

from bisect import bisect_left
from typing import Literal

import numpy as np
from river.base import BinaryDriftDetector
from scipy.special import betaln, xlogy

from shadowgap.drift.budget import glr_threshold
from shadowgap.drift.changepoint import ChangeSummary

Side = Literal["up", "down", "both"]

# Split candidates older than the window: at most this many checkpoints per regime (about
# 1 KB of state), so an update stays O(window + MAX_CHECKPOINTS).
MAX_CHECKPOINTS = 64


def _max_loglik(ones: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Maximised Bernoulli log-likelihood of ``ones`` in ``n`` trials (``0 log 0 = 0``)."""
    safe_n = np.maximum(n, 1)
    return xlogy(ones, ones / safe_n) + xlogy(n - ones, (n - ones) / safe_n)


def _marginal_loglik(ones: np.ndarray, n: np.ndarray, a: float, b: float) -> np.ndarray:
    """Log-likelihood of ``ones`` in ``n`` trials with the rate integrated over Beta(a, b)."""
    return betaln(ones + a, n - ones + b) - betaln(a, b)


class BernoulliGLR(BinaryDriftDetector):
    """Generalised likelihood-ratio test for a change in a rate of ones, both levels unknown.

    After ``n`` samples the statistic is the largest log-likelihood ratio, over every candidate
    change point that leaves at most ``window`` samples after it, of "one rate before, another
    after" against "one rate throughout" (Siegmund & Venkatraman 1995, for the Bernoulli family).
    Both rates are maximum-likelihood estimates, so the detector needs no warm-up and no known
    in-control level: it watches a segment from its first sample, which is what a small segment
    with a few dozen verdicts a week needs. ``side="up"`` only counts candidates whose rate
    after the split is higher than before (``"down"`` lower, ``"both"`` either).

    The statistic is nearly free of the unknown level (the likelihood ratio is maximised over
    it), so one threshold serves every segment: :func:`shadowgap.drift.budget.glr_threshold` maps
    an in-control average run length to it, from a calibration by simulation that
    ``benchmarks/glr_calibration.py`` reproduces.

    ``window`` bounds the cost of an update: every split within the last ``window`` samples is a
    candidate, and older splits only at checkpoints (every ``window // 5`` samples, thinned to
    at most :data:`MAX_CHECKPOINTS` by doubling the spacing as the regime grows). Without the
    checkpoints a change that did not show within ``window`` samples (a small one, or one that
    came just after a reset, with little history before it) was never caught: as its samples
    slid out of the window they joined the "before" side, and the evidence fell instead of
    growing. With them the evidence for an old change point keeps growing with every sample.

    **Pooled prior.** Without a known level, a change can only be seen against the samples
    before it: 20 verdicts at 0.25 carry at most about 4 nats of evidence against 0.55, below
    any useful threshold, however many come after. Other segments know what a normal level
    looks like, so ``prior`` (a Beta(a, b) fitted across segments, see
    :func:`shadowgap.stats.pooled.beta_prior`) stands in for the missing history: the rate
    before the split (and under "no change") is integrated over the prior, i.e. the prior acts
    as ``a + b`` pseudo-samples that the segment's own history outweighs as it grows. The rate
    after the split stays a free maximum-likelihood estimate. A segment whose normal level is
    far from the pool only gains ``log(n) / 2`` plus the prior's surprise at its level, which
    stays well below the threshold.

    Parameters
    ----------
    side
        ``"up"``, ``"down"`` or ``"both"``.
    arl0
        Required in-control average run length (samples between false alarms).
    h
        Threshold in nats; designed from ``arl0`` when ``None``.
    window
        Longest post-change run considered.
    prior
        ``(a, b)`` of a Beta prior for the level before a change; ``None`` for none.

    Examples
    --------
    >>> import random
    >>> rng = random.Random(5)
    >>> glr = BernoulliGLR(side="up", arl0=5_000, prior=(4.0, 12.0))

    >>> # 150 verdicts with 25% flagship wins, then the rate rises to 55%
    >>> stream = [rng.random() < 0.25 for _ in range(150)]
    >>> stream += [rng.random() < 0.55 for _ in range(200)]
    >>> for i, x in enumerate(stream):
    ...     if glr.update(x).drift_detected:
    ...         print(f"Change detected at index {i}")
    ...         break
    Change detected at index 209

    """

    def __init__(
        self,
        *,
        side: Side = "up",
        arl0: float | None = None,
        h: float | None = None,
        window: int = 500,
        prior: tuple[float, float] | None = None,
    ) -> None:
        super().__init__()
        if side not in ("up", "down", "both"):
            raise ValueError("side must be 'up', 'down' or 'both'")
        if window < 1:
            raise ValueError("window must be positive")
        if h is not None and h <= 0:
            raise ValueError("h must be positive")
        self.side = side
        self.window = window
        self.h = h
        self.prior = list(prior) if prior is not None else None
        self.arl0 = 10_000.0 if arl0 is None and h is None else arl0
        self._threshold = self._design()
        self._reset()

    def _design(self) -> float:
        if self.h is not None:
            return self.h
        assert self.arl0 is not None
        return glr_threshold(float(self.arl0), two_sided=self.side == "both")

    def _reset(self) -> None:
        super()._reset()
        self.n = 0
        self.ones = 0
        self.recent = bytearray()  # the last ``window`` samples (0/1), oldest first
        # (n, ones) at every ``stride``-th sample: split candidates older than the window.
        self.marks_n: list[int] = []
        self.marks_ones: list[int] = []
        self.stride = max(1, self.window // 5)
        self._stat = 0.0
        self._split = 0  # samples after the best change point
        self._split_ones = 0
        self._fired: str | None = None

    def set_arl0(self, arl0: float) -> None:
        """Re-size the threshold for a new ARL0 target."""
        if self.h is not None or arl0 == self.arl0:
            return
        self.arl0 = arl0
        self._threshold = self._design()

    def set_prior(self, prior: tuple[float, float] | None) -> None:
        """Replace the pooled prior (from the next sample on)."""
        self.prior = list(prior) if prior is not None else None

    # River 0.26 annotates update() as returning None; returning self allows chaining.
    def update(self, x: bool | int | float) -> BernoulliGLR:  # type: ignore[override]
        if self._drift_detected:
            self._reset()
        one = 1 if x else 0
        self.n += 1
        self.ones += one
        self.recent.append(one)
        if len(self.recent) > self.window:
            del self.recent[0]  # a 500-byte move: cheaper than a ring's bookkeeping in Python
        if self.n % self.stride == 0:
            self._checkpoint()
        self._evaluate()
        if self._stat >= self._threshold:
            self._drift_detected = True
        return self

    def _checkpoint(self) -> None:
        self.marks_n.append(self.n)
        self.marks_ones.append(self.ones)
        if len(self.marks_n) > MAX_CHECKPOINTS:
            # Keep every other one: the spacing doubles, the reach back stays the whole regime.
            self.marks_n = self.marks_n[1::2]
            self.marks_ones = self.marks_ones[1::2]
            self.stride *= 2

    def _evaluate(self) -> None:
        """Statistic and best split over post-change runs of 1 .. min(window, n - 1), and at
        the checkpoints before the window."""
        longest = min(len(self.recent), self.n - 1)
        if longest < 1:
            self._stat, self._split, self._split_ones = 0.0, 0, 0
            return
        tail = np.frombuffer(self.recent, dtype=np.uint8)[len(self.recent) - longest :][::-1]
        after_n = np.arange(1.0, longest + 1.0)
        after = np.cumsum(tail, dtype=np.float64)
        # Checkpoints are in sample order; those before the window's first split are extra.
        old = bisect_left(self.marks_n, self.n - longest)
        if old:
            mark_n = np.array(self.marks_n[:old], dtype=np.float64)
            mark_ones = np.array(self.marks_ones[:old], dtype=np.float64)
            after_n = np.concatenate([after_n, self.n - mark_n[::-1]])
            after = np.concatenate([after, self.ones - mark_ones[::-1]])
        before_n = self.n - after_n
        before = self.ones - after
        ones, n = np.array([float(self.ones)]), np.array([float(self.n)])
        if self.prior is None:
            pseudo_ones, pseudo_n = 0.0, 0.0
            total = _max_loglik(ones, n)[0]
            before_ll = _max_loglik(before, before_n)
        else:
            a, b = self.prior
            pseudo_ones, pseudo_n = a, a + b
            total = _marginal_loglik(ones, n, a, b)[0]
            before_ll = _marginal_loglik(before, before_n, a, b)
        gain = before_ll + _max_loglik(after, after_n) - total
        # Compare the rate after the split with the (prior-smoothed) rate before it.
        higher = after * (before_n + pseudo_n) > (before + pseudo_ones) * after_n
        if self.side == "up":
            gain = np.where(higher, gain, 0.0)
        elif self.side == "down":
            gain = np.where(~higher, gain, 0.0)
        best = int(np.argmax(gain))
        self._stat = float(max(gain[best], 0.0))
        self._split = int(after_n[best])
        self._split_ones = int(after[best])
        if self.side == "both":
            self._fired = "up" if higher[best] else "down"

    # --- introspection --------------------------------------------------------------------

    @property
    def warming_up(self) -> bool:
        """Never: the test needs no known level."""
        return False

    @property
    def statistic(self) -> float:
        """Largest log-likelihood ratio over the candidate change points, in nats."""
        return self._stat

    @property
    def threshold(self) -> float:
        return self._threshold

    @property
    def fired(self) -> str | None:
        """For ``side="both"``: which way the best split moves."""
        return self._fired if self.side == "both" else self.side

    @property
    def baseline(self) -> tuple[float | None, int]:
        """The rate before the best change point (all samples when there is none)."""
        summary = self.change_summary()
        if summary.before_n:
            return summary.before_mean, summary.before_n
        return (self.ones / self.n if self.n else None), self.n

    def change_summary(self) -> ChangeSummary:
        """Rates before/after the best change point (maximum likelihood)."""
        after_n = self._split if self._stat > 0 else 0
        after_ones = self._split_ones if after_n else 0
        before_n = self.n - after_n
        return ChangeSummary(
            before_n=before_n,
            before_mean=(self.ones - after_ones) / before_n if before_n else None,
            after_n=after_n,
            after_mean=after_ones / after_n if after_n else None,
        )
