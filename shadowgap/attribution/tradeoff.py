"""What the cheap path buys and costs a segment: cost saved vs quality lost vs p95 added.

Per 1,000 requests of the segment, from a sample of its events and its excess gap:

- cost saved: the cheap share times the difference between the flagship's and the cheap
  path's mean router-reported cost per request (what sending those requests to the flagship
  would have cost more);
- quality lost: the excess gap times the cheap share (requests answered worse than the
  flagship would have);
- p95 added: the escalation latency tax, p95 of all requests minus p95 of the requests no
  cascade escalated (:func:`shadowgap.attribution.latency.escalation_tax`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from shadowgap.attribution.latency import escalation_tax
from shadowgap.attribution.periods import Period

PER = 1000


def _mean(values: np.ndarray) -> float | None:
    values = values[np.isfinite(values)]
    return float(values.mean()) if values.size else None


def tradeoff(period: Period, excess_gap: float | None) -> dict[str, Any]:
    if len(period) == 0:
        return {"requests": 0, "cost_saved_usd": None, "quality_lost": None, "p95_added_ms": None}
    cheap = period.cheap > 0
    share = float(cheap.mean())
    cheap_cost, flagship_cost = _mean(period.cost[cheap]), _mean(period.cost[~cheap])
    saved = None
    if cheap_cost is not None and flagship_cost is not None:
        saved = share * (flagship_cost - cheap_cost) * PER
    tax = escalation_tax(period)
    return {
        "requests": len(period),
        "per_requests": PER,
        "cost_saved_usd": saved,
        "quality_lost": None if excess_gap is None else max(excess_gap, 0.0) * share * PER,
        "p95_added_ms": tax["tax_ms"],
        "p95_ms": tax["p95_ms"],
        "p95_without_escalations_ms": tax["p95_without_escalations_ms"],
    }
