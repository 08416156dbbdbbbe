"""A segment's change between two windows, explained: the JSON view and the one-line why.

:func:`attribute_change` loads both periods, splits the change in expected flagship wins per
request and in cost per request over router share / cheap path / traffic mix
(:mod:`shadowgap.attribution.decomposition`), adds the p95 counterfactuals
(:mod:`shadowgap.attribution.latency`), and phrases the largest part as a sentence such as
"72% of the rise comes from the router sending more of this segment cheap". The result is
plain JSON (finite floats, ISO strings), stored as is in an alert's evidence.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from shadowgap.attribution.decomposition import Decomposition, decompose
from shadowgap.attribution.latency import TIERS, LatencyAttribution, attribute_latency
from shadowgap.attribution.periods import Period, Window, load_period

METRICS = {"quality": "flagship_wins_per_request", "cost": "cost_per_request_usd"}
# The metric whose attribution heads an alert raised on each signal.
SIGNAL_METRIC = {
    "quality_gap": "quality",
    "routing_share": "quality",
    "error_rate": "quality",
    "traffic_share": "quality",
    "cost_per_request": "cost",
    "latency": "latency",
    "tail_latency": "latency",
    "escalation_rate": "latency",
}
LABELS = {
    "router_share": "router share: the router sending a different share of this segment cheap",
    "cheap_quality": "cheap path worse or better on comparable requests (same router-score band)",
    "traffic_mix": "traffic mix: the segment's router-score mix moved",
    "cheap_path": "the cheap path on this traffic (no router scores: quality and mix together)",
    "path_cost": "each path's cost on comparable requests (same router-score band)",
    "path_cost_on_traffic": "each path's cost on this traffic (no router scores)",
}


def _finite(value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return float(value)


def _pair(ci: tuple[float, float] | None) -> list[float] | None:
    if ci is None:
        return None
    low, high = _finite(ci[0]), _finite(ci[1])
    return None if low is None or high is None else [low, high]


def _cheap_share(period: Period) -> float | None:
    return float(period.cheap.mean()) if len(period) else None


def _phrase(factor: str, part: float, metric: str, cheaper: bool) -> str:
    """What a factor did, in words, given the sign of its part."""
    up = part > 0
    if factor == "router_share":
        return f"the router sending {'more' if cheaper else 'less'} of this segment cheap"
    if factor == "cheap_quality":
        return (
            f"the cheap model doing {'worse' if up else 'better'} on comparable requests "
            "(same router-score band)"
        )
    if factor == "traffic_mix":
        return "the segment's traffic moving to a different router-score mix"
    if factor == "cheap_path":
        return "the cheap path on this traffic"
    if factor == "path_cost":
        return f"each path costing {'more' if up else 'less'} on comparable requests"
    return "each path's cost on this traffic"


def decomposition_sentence(d: Decomposition, before: Period, after: Period) -> str:
    shares = d.shares()
    if all(share is None for share in shares.values()):
        return "no change to explain"
    factor = max(shares, key=lambda name: shares[name] or -math.inf)
    share = shares[factor] or 0.0
    cheaper = (_cheap_share(after) or 0.0) >= (_cheap_share(before) or 0.0)
    direction = "rise" if d.change > 0 else "fall"
    what = _phrase(factor, d.parts[factor], d.metric, cheaper)
    return f"{share * 100:.0f}% of the {direction} comes from {what}"


def decomposition_view(d: Decomposition, before: Period, after: Period) -> dict[str, Any]:
    shares = d.shares()
    return {
        "metric": METRICS[d.metric],
        "before": _finite(d.before),
        "after": _finite(d.after),
        "change": _finite(d.change),
        "change_ci": _pair(d.change_ci),
        "scored": d.scored,
        "band_edges": [_finite(e) for e in d.band_edges],
        "factors": [
            {
                "factor": name,
                "label": LABELS[name],
                "contribution": _finite(part),
                "ci": _pair(d.parts_ci[name]),
                "share": _finite(shares[name]),
                "share_ci": _pair(d.share_ci[name]),
            }
            for name, part in d.parts.items()
        ],
        "sentence": decomposition_sentence(d, before, after),
    }


def latency_sentence(la: LatencyAttribution) -> str:
    if la.change is None or abs(la.change) < 1e-9:
        return "no change in p95 to explain"
    direction = "rise" if la.change > 0 else "fall"
    text = f"p95 {la.before_p95:,.0f} → {la.after_p95:,.0f} ms"
    if la.mix_share is not None:
        text += (
            f"; {la.mix_share * 100:.0f}% of the {direction} comes from the mix of tiers "
            f"(escalated {la.before_mix[2] * 100:.1f}% → {la.after_mix[2] * 100:.1f}% of "
            f"requests, cheap {la.before_mix[1] * 100:.1f}% → {la.after_mix[1] * 100:.1f}%)"
        )
    if la.after_tail_escalated is not None:
        text += f"; escalations are {la.after_tail_escalated * 100:.0f}% of the tail"
    return text


def latency_view(la: LatencyAttribution) -> dict[str, Any]:
    def tax(values: dict[str, float | None]) -> dict[str, float | None]:
        return {key: _finite(value) for key, value in values.items()}

    return {
        "metric": "p95_latency_ms",
        "before": _finite(la.before_p95),
        "after": _finite(la.after_p95),
        "before_ci": _pair(la.before_ci),
        "after_ci": _pair(la.after_ci),
        "change": _finite(la.change),
        "after_with_before_mix": _finite(la.after_with_before_mix),
        "before_with_after_mix": _finite(la.before_with_after_mix),
        "mix_share": _finite(la.mix_share),
        "tiers": list(TIERS),
        "before_mix": la.before_mix,
        "after_mix": la.after_mix,
        "before_tail_escalated_share": _finite(la.before_tail_escalated),
        "after_tail_escalated_share": _finite(la.after_tail_escalated),
        "before_escalation_tax": tax(la.before_tax),
        "after_escalation_tax": tax(la.after_tax),
        "sentence": latency_sentence(la),
    }


def period_view(period: Period, window: Window) -> dict[str, Any]:
    return {
        "window": window.describe(),
        "events": len(period),
        "judged_pairs": period.judged,
        "cheap_share": _finite(_cheap_share(period)),
        "scored_share": _finite(float(np.mean(np.isfinite(period.score)))) if len(period) else None,
    }


def explain_periods(
    before: Period,
    after: Period,
    *,
    n_resamples: int,
    signal: str | None = None,
    before_window: Window | None = None,
    after_window: Window | None = None,
) -> dict[str, Any]:
    """The attribution view of two loaded periods (see the module docstring)."""
    view: dict[str, Any] = {
        "before": period_view(before, before_window or Window()),
        "after": period_view(after, after_window or Window()),
        "resamples": n_resamples,
        "ci_level": 0.95,
    }
    if len(before) < 2 or len(after) < 2:
        view.update(available=False, reason="each window needs at least two events")
        return view
    quality = decompose(before, after, "quality", n_resamples=n_resamples)
    cost = decompose(before, after, "cost", n_resamples=n_resamples, seed=1)
    latency = attribute_latency(before, after)
    view.update(
        available=True,
        scored=quality.scored,
        quality=decomposition_view(quality, before, after),
        cost=decomposition_view(cost, before, after),
        latency=latency_view(latency),
    )
    metric = SIGNAL_METRIC.get(signal or "", "quality")
    view["headline_metric"] = metric
    view["headline"] = view[metric]["sentence"]
    return view


def attribute_change(
    session: Session,
    segment_id: int,
    before: Window,
    after: Window,
    *,
    n_resamples: int,
    signal: str | None = None,
) -> dict[str, Any]:
    """Load both windows of a segment and explain the change between them."""
    return explain_periods(
        load_period(session, segment_id, before),
        load_period(session, segment_id, after),
        n_resamples=n_resamples,
        signal=signal,
        before_window=before,
        after_window=after,
    )
