"""One-sided group-sequential boundaries with an alpha-spending function (Lan-DeMets).

A before/after difference tested at looks ``k = 1, 2, ...`` as the after window grows,
``Z_k = (A_k - B) / sqrt(v_A,k + v_B)``, has the canonical joint distribution of group
sequential tests: with information ``I_k = 1 / (v_A,k + v_B)`` the score ``Z_k sqrt(I_k)`` is a
Brownian motion in ``I`` (the shared before level ``B`` makes ``cov(Z_j, Z_k) =
sqrt(I_j / I_k)`` exactly as nested means do). So the error rate can be spent over the horizon
by a spending function and each look's boundary solved so that the chance of a first crossing
there is that look's increment, given the earlier looks' boundaries: the level holds over the
whole horizon, and, unlike Bonferroni over looks, the looks' strong correlation is not wasted.
The information is capped at ``1 / v_B`` (the before level's own uncertainty), which the
recursion carries as it is.

The spending function is Pocock's type (Lan and DeMets 1983), ``alpha ln(1 + (e - 1) t)`` over
calendar time ``t`` in [0, 1] of the horizon: it spends early, which a change that should be
rolled back wants, and calendar time is known in advance, so the spending does not depend on
the data. The crossing probabilities come from the numerical recursion of Armitage, McPherson
and Rowe (1969) on a grid of the score.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import optimize, special

GRID = 400  # points of the score's grid per look
WIDTH = 8.0  # the grid reaches this many standard deviations below the boundary


def pocock_spending(alpha: float, t: float) -> float:
    """Cumulative error rate spent by calendar fraction ``t`` of the horizon."""
    t = min(max(t, 0.0), 1.0)
    return alpha * math.log(1.0 + (math.e - 1.0) * t)


class SpendingTest:
    """The boundaries of one statistic's looks, one look at a time (module doc)."""

    def __init__(self) -> None:
        # The surviving (not yet crossed) sub-density of the score, as masses on grid points.
        self.points = np.zeros(1)
        self.masses = np.ones(1)
        self.information = 0.0
        self.spent = 0.0

    def look(self, information: float, cumulative: float) -> float:
        """The z boundary of the next look, at ``information`` with ``cumulative`` error rate
        spent by then: the chance (under no change) of first crossing here is
        ``cumulative`` minus what earlier looks spent. Infinite when it spends nothing."""
        step = information - self.information
        if step <= 0:
            raise ValueError("information must increase from look to look")
        spend = max(cumulative - self.spent, 0.0)
        scale, root = math.sqrt(step), math.sqrt(information)
        points, masses = self.points, self.masses

        def crossing(z: float) -> float:
            return float((masses * special.ndtr((points - z * root) / scale)).sum())

        bound = math.inf
        if spend > 0:
            bound = float(optimize.brentq(lambda z: crossing(z) - spend, -10.0, 40.0, xtol=1e-6))
        # Carry the surviving masses to this look and cut them at its boundary.
        top = bound * root if math.isfinite(bound) else float(points.max()) + WIDTH * scale
        low = min(float(points.min()) - WIDTH * scale, top - WIDTH * root)
        grid = np.linspace(low, top, GRID)
        gaps = (grid[:, None] - points[None, :]) / scale
        kernel = np.exp(-0.5 * gaps * gaps) / (math.sqrt(2.0 * math.pi) * scale)
        self.masses = kernel @ masses * (grid[1] - grid[0])
        self.points = grid
        self.information, self.spent = information, max(cumulative, self.spent)
        return bound


def boundaries(informations: Sequence[float], spent: Sequence[float]) -> list[float]:
    """Every look's z boundary for increasing ``informations`` and cumulative ``spent``."""
    test = SpendingTest()
    return [test.look(i, s) for i, s in zip(informations, spent, strict=True)]
