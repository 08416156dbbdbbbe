"""Why a segment's p95 latency moved: the tiers' mix or the tiers' own latencies.

A p95 does not decompose into additive parts, so the attribution is counterfactual. Requests
fall in three tiers: flagship-routed, cheap-routed and answered cheap, cheap-routed and then
escalated by a cascade. For each period we know the tier mix and each tier's latencies, and
report

- ``after_with_before_mix``: the after period's latencies reweighted to the before period's
  tier mix (what p95 would be now had the router and the cascade kept their old mix),
- ``before_with_after_mix``: the reverse,
- the share of the change due to the mix, ``(after - after_with_before_mix) / change``, and
  the same from the other side; their mean is the reported mix share (a two-order average,
  as Shapley would take with two factors),
- the escalations' share of the tail: of the requests above the period's p95, the share that
  were escalated, and the escalation latency tax: p95 of all requests against the p95 of the
  requests that were not escalated.

The observed p95s carry 95% distribution-free intervals (the order statistics around the
quantile, from the binomial distribution: :func:`scipy.stats.quantile_test`), which need no
resampling however long the period.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from shadowgap.attribution.periods import Period
from shadowgap.stats.quantiles import weighted_quantile

TIERS = ("flagship", "cheap", "escalated")
Q95 = 0.95


def tiers(period: Period) -> np.ndarray:
    """0 flagship, 1 cheap answered cheap, 2 cheap then escalated."""
    return np.where(period.cheap > 0, np.where(period.escalated > 0, 2, 1), 0)


def tier_mix(period: Period) -> np.ndarray:
    known = np.isfinite(period.latency)
    counts = np.bincount(tiers(period)[known], minlength=len(TIERS)).astype(float)
    total = counts.sum()
    return counts / total if total else counts


def reweighted_p95(period: Period, mix: np.ndarray) -> float | None:
    """p95 of ``period``'s latencies with its tiers reweighted to ``mix``."""
    own = tier_mix(period)
    tier = tiers(period)
    # A tier this period lacks cannot be reweighted: its share goes to the tiers present.
    target = np.where(own > 0, mix, 0.0)
    if target.sum() <= 0:
        return None
    ratio = np.divide(target / target.sum(), own, out=np.zeros_like(own), where=own > 0)
    return weighted_quantile(period.latency, ratio[tier], Q95)


def p95(latency: np.ndarray) -> float | None:
    values = latency[np.isfinite(latency)]
    return float(np.quantile(values, Q95, method="inverted_cdf")) if values.size else None


def tail_escalated_share(period: Period) -> float | None:
    """Of the requests above the period's p95, the share a cascade escalated."""
    cut = p95(period.latency)
    if cut is None:
        return None
    tail = np.isfinite(period.latency) & (period.latency > cut)
    if not tail.any():
        tail = np.isfinite(period.latency) & (period.latency >= cut)
    return float(period.escalated[tail].mean())


def escalation_tax(period: Period) -> dict[str, float | None]:
    """p95 with the escalated requests against p95 without them."""
    with_all = p95(period.latency)
    without = p95(period.latency[period.escalated == 0])
    return {
        "p95_ms": with_all,
        "p95_without_escalations_ms": without,
        "tax_ms": None if with_all is None or without is None else with_all - without,
        "tax_ratio": None if not with_all or not without else with_all / without - 1.0,
    }


@dataclass(frozen=True)
class LatencyAttribution:
    before_p95: float | None
    after_p95: float | None
    before_ci: tuple[float, float] | None
    after_ci: tuple[float, float] | None
    after_with_before_mix: float | None
    before_with_after_mix: float | None
    mix_share: float | None
    before_mix: list[float]
    after_mix: list[float]
    before_tail_escalated: float | None
    after_tail_escalated: float | None
    before_tax: dict[str, float | None]
    after_tax: dict[str, float | None]

    @property
    def change(self) -> float | None:
        if self.before_p95 is None or self.after_p95 is None:
            return None
        return self.after_p95 - self.before_p95


def _p95_ci(period: Period) -> tuple[float, float] | None:
    values = period.latency[np.isfinite(period.latency)]
    point = p95(values)
    if point is None or values.size < 2:
        return None
    interval = stats.quantile_test(values, q=point, p=Q95).confidence_interval(0.95)
    low, high = float(interval.low), float(interval.high)
    # Too few values for an order statistic on one side leaves that side open (NaN/inf).
    return (low, high) if np.isfinite(low) and np.isfinite(high) else None


def attribute_latency(before: Period, after: Period) -> LatencyAttribution:
    b95, a95 = p95(before.latency), p95(after.latency)
    mix_b, mix_a = tier_mix(before), tier_mix(after)
    a_cf = reweighted_p95(after, mix_b)
    b_cf = reweighted_p95(before, mix_a)
    share: float | None = None
    if b95 is not None and a95 is not None and abs(a95 - b95) > 1e-9:
        sides = []
        if a_cf is not None:
            sides.append((a95 - a_cf) / (a95 - b95))
        if b_cf is not None:
            sides.append((b_cf - b95) / (a95 - b95))
        share = float(np.mean(sides)) if sides else None
    return LatencyAttribution(
        before_p95=b95,
        after_p95=a95,
        before_ci=_p95_ci(before),
        after_ci=_p95_ci(after),
        after_with_before_mix=a_cf,
        before_with_after_mix=b_cf,
        mix_share=share,
        before_mix=[float(x) for x in mix_b],
        after_mix=[float(x) for x in mix_a],
        before_tail_escalated=tail_escalated_share(before),
        after_tail_escalated=tail_escalated_share(after),
        before_tax=escalation_tax(before),
        after_tax=escalation_tax(after),
    )
