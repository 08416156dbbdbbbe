"""The five weighted sums of judged pairs (:class:`shadowgap.stats.excess_gap.WeightedSums`) as
SQL aggregates, so that every query over verdicts weights and counts them alike: ``w = 1 /
inclusion_probability``, ``y = 1`` when the flagship won, and only pairs with a recorded
inclusion probability (pairs judged outside the sampler have none and cannot be weighted).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import case, func
from sqlalchemy.sql.elements import ColumnElement

from shadowgap.db.models import Verdict
from shadowgap.enums import Winner

# Only pairs that can be weighted.
WEIGHTED: ColumnElement[bool] = Verdict.inclusion_probability > 0


def sum_columns() -> list[ColumnElement[Any]]:
    """count, sum w, sum w*y, sum w^2, sum w^2*y over the selected verdicts; read a row's five
    values back with :meth:`WeightedSums.of`."""
    w = 1.0 / Verdict.inclusion_probability
    y = case((Verdict.winner == Winner.FLAGSHIP, 1), else_=0)
    return [func.count(), func.sum(w), func.sum(w * y), func.sum(w * w), func.sum(w * w * y)]
