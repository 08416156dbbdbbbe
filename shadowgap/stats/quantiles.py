"""Weighted quantiles: a percentile of a sample where each row stands for ``w`` rows.

Counterfactual latencies reweight one period's requests to another period's tier mix, so their
p95 is a weighted quantile: the smallest value whose weighted cumulative share reaches ``q``
(the inverted-CDF definition, NumPy's ``method="inverted_cdf"``; with equal weights it is the
plain sample quantile of that method).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


def weighted_quantile(values: ArrayLike, weights: ArrayLike, q: float) -> float | None:
    """The ``q`` quantile (0..1) of ``values`` weighted by ``weights``; None when empty.

    >>> weighted_quantile([1, 2, 3, 4], [1, 1, 1, 1], 0.5)
    2.0
    >>> weighted_quantile([1, 2, 3, 4], [0, 0, 1, 3], 0.5)
    4.0
    """
    if not 0.0 <= q <= 1.0:
        raise ValueError("q must be in [0, 1]")
    x = np.asarray(values, dtype=float)
    w = np.asarray(weights, dtype=float)
    if x.shape != w.shape:
        raise ValueError("values and weights must have the same shape")
    keep = np.isfinite(x) & np.isfinite(w) & (w > 0)
    x, w = x[keep], w[keep]
    if x.size == 0:
        return None
    order = np.argsort(x, kind="stable")
    x, w = x[order], w[order]
    cumulative = np.cumsum(w)
    # Rounding dust must not push the target past the last row.
    target = min(q * cumulative[-1], cumulative[-1])
    index = int(np.searchsorted(cumulative, target - 1e-12 * cumulative[-1], side="left"))
    return float(x[min(index, x.size - 1)])
