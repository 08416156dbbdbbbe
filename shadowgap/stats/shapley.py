"""Exact Shapley decomposition of a change into named factors.

A quantity ``f`` depends on a few factors (say the traffic mix, the router's share and the
cheap path's quality), each with a *before* and an *after* value. The change
``f(after) - f(before)`` is split over the factors by averaging each factor's marginal effect
over every order in which the factors could switch from before to after (Shapley 1953). The
shares always add up to the whole change, whatever the order, and a factor that does not move
gets exactly zero. With ``k`` factors it takes ``2**k`` evaluations of ``f``; attribution uses
two or three.

``f`` may return NumPy arrays (one value per bootstrap resample, say): the arithmetic is
elementwise, so a vectorised ``f`` gets a vectorised decomposition.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from itertools import combinations
from typing import Any


def shapley_decomposition(
    f: Callable[[Mapping[str, Any]], Any],
    before: Mapping[str, Any],
    after: Mapping[str, Any],
) -> dict[str, Any]:
    """Each factor's Shapley share of ``f(after) - f(before)``.

    >>> f = lambda x: x["share"] * x["rate"]
    >>> parts = shapley_decomposition(f, {"share": 0.5, "rate": 0.2}, {"share": 0.8, "rate": 0.2})
    >>> round(parts["share"], 6), parts["rate"]
    (0.06, 0.0)
    >>> parts = shapley_decomposition(f, {"share": 0.5, "rate": 0.2}, {"share": 0.8, "rate": 0.4})
    >>> round(parts["share"], 6), round(parts["rate"], 6), round(sum(parts.values()), 6)
    (0.09, 0.13, 0.22)
    """
    names = list(before)
    if set(names) != set(after):
        raise ValueError("before and after must name the same factors")
    k = len(names)
    if k == 0:
        raise ValueError("at least one factor is needed")
    cache: dict[frozenset[str], Any] = {}

    def value(switched: frozenset[str]) -> Any:
        if switched not in cache:
            cache[switched] = f({n: after[n] if n in switched else before[n] for n in names})
        return cache[switched]

    shares: dict[str, Any] = {}
    for name in names:
        others = [n for n in names if n != name]
        total: Any = 0.0
        for size in range(len(others) + 1):
            # Orders in which exactly these `size` others switched before `name` did.
            weight = math.factorial(size) * math.factorial(k - size - 1) / math.factorial(k)
            for subset in combinations(others, size):
                switched = frozenset(subset)
                total = total + weight * (value(switched | {name}) - value(switched))
        shares[name] = total
    return shares
