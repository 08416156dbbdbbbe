"""Empirical-Bayes Beta prior for a rate, pooled over segments (method of moments).

Segments differ in their normal flagship-wins rate, so the prior must describe the spread
between segments, not just the pooled mean: with per-segment rates ``r_i`` from ``n_i`` samples
and pooled mean ``m``, the between-segment variance is the observed variance of the ``r_i``
minus the binomial noise it contains (Kleinman 1973's moment estimator),

    tau^2 = var_w(r_i) - m (1 - m) * mean(1 / n_i)        (weighted by n_i)

and Beta(a, b) with mean ``m`` and variance ``tau^2`` has ``a + b = m (1 - m) / tau^2 - 1``.
That strength is clipped to ``[MIN_STRENGTH, MAX_STRENGTH]`` pseudo-samples: never so strong
that a segment's own few dozen samples cannot outweigh it, never weaker than a uniform prior.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

MIN_STRENGTH = 2.0
MAX_STRENGTH = 50.0
MIN_SAMPLES = 5  # a segment with fewer samples says too little about the spread
MIN_SEGMENTS = 3


def beta_prior(counts: Iterable[tuple[float, float]]) -> tuple[float, float] | None:
    """``(a, b)`` from ``(ones, n)`` per segment; ``None`` when too few segments have data.

    >>> a, b = beta_prior([(25, 100), (30, 100), (20, 100), (35, 100)])
    >>> round(a / (a + b), 3), round(a + b, 1)
    (0.275, 50.0)
    """
    rows = np.array([(ones, n) for ones, n in counts if n >= MIN_SAMPLES], dtype=float)
    if len(rows) < MIN_SEGMENTS:
        return None
    ones, n = rows[:, 0], rows[:, 1]
    mean = float(ones.sum() / n.sum())
    if not 0.0 < mean < 1.0:
        return None
    rates = ones / n
    spread = float(np.average((rates - mean) ** 2, weights=n))
    noise = mean * (1.0 - mean) * float(np.mean(1.0 / n))
    tau2 = spread - noise
    if tau2 <= 0:
        strength = MAX_STRENGTH
    else:
        strength = min(MAX_STRENGTH, max(MIN_STRENGTH, mean * (1.0 - mean) / tau2 - 1.0))
    return mean * strength, (1.0 - mean) * strength
