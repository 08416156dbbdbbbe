"""Posterior probability that one group's flagship-wins rate exceeds another's by a margin.

Exploration (``shadowgap/slices/exploration.py``) spreads its draws over slices under watch in
proportion to how likely each is to be a real regression, and clears a slice quickly once that
is unlikely. Neither step alerts, so a simple, deterministic posterior is enough: each side's
rate gets a Jeffreys Beta posterior on its Kish effective counts (``n_e = (sum w)^2 / sum w^2``
trials, ``rate x n_e`` successes: the binomial likelihood when weights are equal, the usual
design-effect approximation when not), and the difference of the two is taken as normal with
the Betas' means and variances. At a handful of pairs the posterior is wide and the probability
stays moderate (a slice is not dropped on three pairs); with dozens of pairs at the
complement's rate it falls towards 0.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy import stats

from shadowgap.stats.two_sample import SumArrays

FloatArray = NDArray[np.float64]
JEFFREYS = 0.5  # Beta(1/2, 1/2) prior on each side's rate


def _beta_moments(group: SumArrays) -> tuple[FloatArray, FloatArray]:
    """Posterior mean and variance of a group's rate (Jeffreys prior, effective counts)."""
    n = group.effective_n()
    successes = np.nan_to_num(group.rate()) * n
    a = successes + JEFFREYS
    b = n - successes + JEFFREYS
    mean = a / (a + b)
    variance = a * b / ((a + b) ** 2 * (a + b + 1.0))
    return mean, variance


def probability_excess_above(inside: SumArrays, outside: SumArrays, margin: float) -> FloatArray:
    """P(rate(inside) - rate(outside) > margin) under the posterior (module doc), per entry.

    >>> from shadowgap.stats.two_sample import SumArrays
    >>> def group(n, wins):  # n pairs of weight 1
    ...     return SumArrays(*(np.asarray([v], dtype=float) for v in (n, n, wins, n, wins)))
    >>> rest = group(2000, 400)
    >>> float(probability_excess_above(group(20, 9), rest, 0.15)[0]) > 0.6
    True
    >>> float(probability_excess_above(group(60, 12), rest, 0.15)[0]) < 0.01
    True
    """
    mean_in, var_in = _beta_moments(inside)
    mean_out, var_out = _beta_moments(outside)
    spread = np.sqrt(var_in + var_out)
    return np.asarray(stats.norm.sf((margin - (mean_in - mean_out)) / spread), dtype=np.float64)
