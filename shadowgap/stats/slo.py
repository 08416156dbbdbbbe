"""The SLOs' metrics, error budgets and burn rates: defined once, here (the quality SLO's
first; the latency and error-rate objectives' at the end).

**The metric** is the excess flagship-win rate *per cheap-routed request*: of the requests the
router sent to the cheap path, the share on which the flagship's answer beats the cheap one
beyond the flagship's own run-to-run noise. It is exactly the excess gap of
:func:`shadowgap.stats.excess_gap.excess_gap` (Hajek-weighted 'gap' verdicts minus the noise
floor), so the SLO, the quality detector, the threshold what-if's target and every view read
one number. Per cheap-routed request rather than per request of the segment, because:

- the judged pairs sample the cheap path only, so this is what they estimate without a model
  of the flagship-routed requests (a per-request rate would multiply by the routing share, an
  estimate of its own whose error would enter the budget);
- a routing change then moves the budget's denominator (the cheap requests), not the rate: a
  router that sends twice as much cheap at the same quality spends the same share of its
  budget per request, and the routing-share detector reports the move itself;
- the objective reads the same way as ``SHADOWGAP_TARGET_EXCESS_GAP`` (a gap on the requests
  sent cheap), so a proposal that holds the target holds the SLO.

**The error budget** over the SLO window is the allowed number of excess wins,
``objective * cheap requests``; the budget spent is ``excess * cheap requests`` (an estimate
with the excess's interval), and the share remaining is ``1 - excess / objective``.

**The burn rate** over any window is ``excess / objective``: 1 spends the budget exactly by the
end of the SLO window, 2 spends it in half the time.

**Evidence of a burn.** Small segments have a few dozen verdicts a week, so a point estimate
over a day or two is mostly noise. :func:`burn_evidence` is a one-sided likelihood-ratio test
of ``excess <= null_rate * objective`` (its signed root), which keeps the binomial's skewed
tail at small samples where a Wald interval fails (its estimated variance is 0 when every
verdict agrees). :mod:`shadowgap.slo.rules` turns it into alerts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy.stats import binom, norm

from shadowgap.stats.excess_gap import WeightedSums, excess_gap, noise_floor


@dataclass(frozen=True)
class Burn:
    """The SLO metric over one window, against one objective."""

    objective: float
    excess: float | None  # excess flagship-win rate per cheap-routed request
    ci_low: float | None  # its 95% interval (the excess gap's)
    ci_high: float | None
    pairs: int  # judged 'gap' pairs behind it

    @property
    def rate(self) -> float | None:
        """Burn rate: ``excess / objective``."""
        return None if self.excess is None else self.excess / self.objective

    @property
    def rate_interval(self) -> tuple[float, float] | None:
        if self.ci_low is None or self.ci_high is None:
            return None
        return (self.ci_low / self.objective, self.ci_high / self.objective)


def burn(
    gap: WeightedSums, noise: WeightedSums, global_noise: WeightedSums, objective: float
) -> Burn:
    """The burn of one window's judged pairs against ``objective`` (> 0).

    >>> b = burn(WeightedSums(100, 100, 30, 100, 30), WeightedSums(), WeightedSums(400, 400,
    ...     40, 400, 40), objective=0.1)
    >>> round(b.excess, 3), round(b.rate, 2)
    (0.2, 2.0)
    """
    if not objective > 0:
        raise ValueError("objective must be positive")
    gap_est = excess_gap(gap, noise, global_noise)
    return Burn(objective, gap_est.excess, gap_est.ci_low, gap_est.ci_high, gap.n)


@dataclass(frozen=True)
class Budget:
    """The error budget of the SLO window: allowed and spent excess wins."""

    cheap_requests: int
    allowed: float  # objective * cheap requests
    spent: float | None  # excess * cheap requests (estimate)
    spent_interval: tuple[float, float] | None
    remaining: float | None  # share of the budget left: 1 - burn rate (negative: overspent)


def budget(window: Burn, cheap_requests: int) -> Budget:
    """The budget of the SLO window from its burn and its cheap-routed requests.

    >>> bud = budget(Burn(0.1, 0.05, 0.01, 0.09, 80), cheap_requests=1000)
    >>> bud.allowed, bud.spent, bud.remaining
    (100.0, 50.0, 0.5)
    """
    allowed = window.objective * cheap_requests
    if window.excess is None:
        return Budget(cheap_requests, allowed, None, None, None)
    spent = window.excess * cheap_requests
    interval = None
    if window.ci_low is not None and window.ci_high is not None:
        interval = (window.ci_low * cheap_requests, window.ci_high * cheap_requests)
    rate = window.rate
    return Budget(cheap_requests, allowed, spent, interval, None if rate is None else 1.0 - rate)


def burn_evidence(
    gap: WeightedSums,
    noise: WeightedSums,
    global_noise: WeightedSums,
    objective: float,
    null_rate: float,
) -> float | None:
    """Signed root of the likelihood-ratio statistic of ``burn <= null_rate`` against more
    (module doc); about standard normal under the null, positive when the burn is above it.

    ``None`` without pairs. Under the null the gap rate is the noise floor plus ``null_rate *
    objective``. The Hajek rate is treated as a binomial proportion over the sample's
    effective size ``(sum w)^2 / sum w^2`` (``n`` with equal weights), so the test keeps the
    binomial's skewed tail: a handful of pairs that all went to the flagship is far less
    evidence than a normal approximation says (the first version used one and paged on them).
    The floor is taken as known; it rests on the deployment's noise pairs, which outnumber a
    small segment's pairs many times.

    >>> z = burn_evidence(WeightedSums(100, 100, 30, 100, 30), WeightedSums(),
    ...     WeightedSums(400, 400, 40, 400, 40), objective=0.1, null_rate=0.5)
    >>> round(z, 2)
    3.8
    """
    rate = gap.rate
    if rate is None:
        return None
    floor, _ = noise_floor(noise, global_noise)
    p0 = min(max((floor.rate or 0.0) + null_rate * objective, 1e-9), 1.0 - 1e-9)
    p = min(max(rate, 1e-12), 1.0 - 1e-12)
    n_eff = gap.w * gap.w / gap.w2
    divergence = p * math.log(p / p0) + (1.0 - p) * math.log((1.0 - p) / (1.0 - p0))
    root = math.sqrt(max(0.0, 2.0 * n_eff * divergence))
    return root if rate >= p0 else -root


def critical_z(alpha: float) -> float:
    """One-sided critical value for a test at level ``alpha``.

    >>> round(critical_z(0.025), 2)
    1.96
    """
    if not 0.0 < alpha < 1.0:
        raise ValueError("alpha must be in (0, 1)")
    return float(norm.isf(alpha))


# --- request objectives: latency and error rate ------------------------------------------------
#
# **The metric** of a latency or error-rate objective is a share of *all* the segment's
# requests: those slower than the objective's threshold (latency), or those that failed (error
# rate). Ingest sees every request (no sampling), so both are exact counts, not estimates: the
# budget over the SLO window is ``allowed share * requests`` bad requests, the burn rate over
# any window is ``bad share / allowed share``, and there is no interval. What a small window
# lacks is not precision but evidence that the segment changed: :func:`count_burn_pvalue` is
# the exact binomial test the burn-rate rules ask of a low-traffic window.


@dataclass(frozen=True)
class CountBurn:
    """A latency or error-rate objective over one window: bad requests of all counted."""

    allowed: float  # the share of requests allowed to be bad (1 - target, or the error objective)
    bad: int
    requests: int

    @property
    def share(self) -> float | None:
        """Bad requests per request; ``None`` without requests."""
        return self.bad / self.requests if self.requests else None

    @property
    def rate(self) -> float | None:
        """Burn rate: ``bad share / allowed share``.

        >>> CountBurn(0.01, 3, 100).rate
        3.0
        """
        share = self.share
        return None if share is None else share / self.allowed


def count_burn(allowed: float, bad: int, requests: int) -> CountBurn:
    """The burn of one window's counts against an allowed bad share in ``(0, 1]``."""
    if not 0 < allowed <= 1:
        raise ValueError("the allowed share must be in (0, 1]")
    if not 0 <= bad <= requests:
        raise ValueError("bad requests must be between 0 and the requests")
    return CountBurn(allowed, bad, requests)


@dataclass(frozen=True)
class CountBudget:
    """The error budget of a request objective over the SLO window, in requests."""

    requests: int
    allowed: float  # allowed share * requests
    spent: int  # bad requests
    remaining: float | None  # share of the budget left: 1 - burn rate (negative: overspent)


def count_budget(window: CountBurn) -> CountBudget:
    """The budget of the SLO window from its counts.

    >>> count_budget(CountBurn(0.01, 5, 1000))
    CountBudget(requests=1000, allowed=10.0, spent=5, remaining=0.5)
    """
    rate = window.rate
    return CountBudget(
        window.requests,
        window.allowed * window.requests,
        window.bad,
        None if rate is None else 1.0 - rate,
    )


def count_burn_pvalue(window: CountBurn, null_rate: float) -> float | None:
    """Exact one-sided binomial p-value of "the burn rate is at most ``null_rate``" against
    more: the chance of at least ``bad`` bad requests of ``requests`` if each is bad with
    probability ``null_rate * allowed``. ``None`` without requests. Small when a window holds
    evidence of a burn above ``null_rate``; a handful of requests with one bad among them
    holds little.

    >>> round(count_burn_pvalue(CountBurn(0.01, 1, 3), 0.5), 4)
    0.0149
    >>> count_burn_pvalue(CountBurn(0.01, 150, 1000), 0.5) < 1e-100
    True
    """
    if window.requests == 0:
        return None
    p0 = min(1.0, null_rate * window.allowed)
    return float(binom.sf(window.bad - 1, window.requests, p0))


def count_below_pvalue(window: CountBurn, rate: float) -> float | None:
    """Exact one-sided binomial p-value of "the burn rate is at least ``rate``" against less:
    the chance of at most ``bad`` bad requests if each is bad with probability ``rate *
    allowed``. Small when the window is confidently below ``rate``; ``None`` without requests.

    >>> round(count_below_pvalue(CountBurn(0.01, 0, 10), 6.0), 3)
    0.539
    """
    if window.requests == 0:
        return None
    p1 = min(1.0, rate * window.allowed)
    return float(binom.cdf(window.bad, window.requests, p1))
