"""Which cheap-routed events get a shadow re-run, and with what inclusion probability.

**Sampling that buys detection power** (:func:`plan_allocation`, the default). Each segment
gets the verdict rate its quality detector needs to catch a rise of ``min_detectable_effect``
in its flagship-wins rate within ``detection_days`` of event time, at the false-alarm budget:
a detector fed ``r`` verdicts a week has ``ARL0 = D r / F``, a GLR threshold ``h(ARL0)`` and
needs about ``h / KL(p + effect || p)`` verdicts (:mod:`shadowgap.drift.budget`), i.e.
``h / (KL r)`` weeks. The whole budget is split to minimise the worst detection time: every
segment gets the rate that detects within the same time ``T*`` (found by bisection), except
segments whose whole cheap volume is not enough (they are sampled at 1). Since the verdicts
needed grow only like the log of the rate, that gives small segments about as many verdicts a
week as large ones: far above their volume share. Segments whose ``T*`` exceeds
``detection_days`` are reported under-powered (expect that on small deployments at 2%); when the
budget is rich, ``T*`` is shorter than the target and every segment is faster for it.

The volume-proportional split below (:func:`allocation_probability`) is kept for a budget
given as "equal share" and for the benchmark's comparisons.

Stratified by segment and deterministic. The shadow budget ``B`` is a fraction of *all*
traffic; only cheap-routed events are candidates, so the overall rate over candidates is
``Bc = B * total / cheap_total``. That budget is split across the ``K`` segments that have
cheap traffic: a part ``e`` equally, the rest in proportion to volume, so a segment with cheap
share ``s`` gets the inclusion probability

    p_s = Bc * ((1 - e) + e / (K * s))          (capped at 1, floored at sampling_min_rate)

Summed over segments, ``sum_s p_s * s * cheap_total = Bc * cheap_total``: the budget is kept,
small segments are over-sampled (a 3% segment among 5 with B = 2%, e = 0.8 is sampled at about
5.5x the uniform rate) and large ones under-sampled. Every sampled event stores ``p_s`` so that
aggregates weight it by ``1 / p_s`` and stay unbiased (Horvitz-Thompson / Hajek).

The draw is ``hash(salt, event_id) < p_s``: a redelivered event gets the same decision, and a
replay with the same salt draws the same sample.

**Exploration** (issue 23, :func:`decide_explored`). While slices are under watch, a share ``x``
of the budget (``SHADOWGAP_SLICE_EXPLORATION_SHARE``) is kept back from the allocation above
(the base design plans with ``(1 - x) B``; with nothing under watch it plans with all of ``B``)
and spent on requests that match slices under watch
(:mod:`shadowgap.slices.exploration`): such a request gets a second, independent draw
``hash(salt + ":explore", event_id) < p_explore``, so its inclusion probability is
``p = 1 - (1 - p_base)(1 - p_explore)``, recorded like any other, and the decision records which
draw took it. Estimates weighted by ``1 / p`` stay unbiased; the segment quality detectors read
the unweighted win indicator, so they must see only the events the *base* draw took (a boosted
sub-slice would look like a rise to them).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from shadowgap.config import Settings
from shadowgap.drift.budget import (
    PLANNING_RATE,
    arl0_for_rate,
    detector_alarms_per_week,
    glr_delay,
    glr_threshold,
)
from shadowgap.drift.signals import EVERY_SEGMENT

WARMUP_MULTIPLIER = 10.0


def hash_unit(salt: str, key: str) -> float:
    """A uniform number in [0, 1) derived from ``key``: reproducible across processes."""
    digest = hashlib.sha256(f"{salt}\x1f{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def allocation_probability(
    share: float, n_segments: int, budget: float, equal_share: float
) -> float:
    """Inclusion probability of a segment with candidate share ``share`` (see module doc)."""
    if share <= 0.0 or n_segments <= 0:
        return min(1.0, budget)
    p = budget * ((1.0 - equal_share) + equal_share / (n_segments * share))
    return min(1.0, max(0.0, p))


_HOUR_IN_WEEKS = 1.0 / 168.0


@dataclass(frozen=True)
class SegmentPlan:
    """One segment's sampling rate and what it buys."""

    probability: float
    verdicts_per_week: float
    detection_days: float  # expected days to detect min_detectable_effect
    underpowered: bool


def verdicts_to_detect(rate_per_week: float, n_detectors: int, settings: Settings) -> float:
    """Verdicts a quality detector fed ``rate_per_week`` needs for min_detectable_effect."""
    budget = detector_alarms_per_week(
        settings.false_alarms_per_week, settings.slice_false_alarm_share
    )
    arl0 = arl0_for_rate(budget, n_detectors, max(rate_per_week, 1.0))
    p1 = min(PLANNING_RATE + settings.min_detectable_effect, 0.999)
    return glr_delay(PLANNING_RATE, p1, glr_threshold(arl0))


def detection_days(rate_per_week: float, n_detectors: int, settings: Settings) -> float:
    """Expected days to detect min_detectable_effect at ``rate_per_week`` verdicts."""
    if rate_per_week <= 0:
        return math.inf
    return 7.0 * verdicts_to_detect(rate_per_week, n_detectors, settings) / rate_per_week


def _rate_for_time(weeks: float, n_detectors: int, settings: Settings) -> float:
    """Verdicts a week that detect within ``weeks`` (fixed point: the need grows like log r)."""
    rate = 10.0
    for _ in range(30):
        new = verdicts_to_detect(rate, n_detectors, settings) / weeks
        if abs(new - rate) < 1e-6 * rate:
            break
        rate = new
    return rate


def plan_allocation(
    cheap_per_week: Mapping[int, float],
    events_per_week: float,
    settings: Settings,
    false_alarm_weights: Mapping[int, float] | None = None,
    exploring: bool = False,
) -> dict[int, SegmentPlan]:
    """Inclusion probability per segment: see the module docstring.

    ``false_alarm_weights`` (relative, per segment) is how the false-alarm budget is split
    between segments; ``None`` is the service's equal split (every detector gets ``F / D``). A
    segment with a smaller part has a higher threshold, needs more verdicts, and so gets more
    of the budget. ``benchmarks/detection.py`` plans with weights in proportion to traffic
    for its "equal false alarms per unit of traffic" comparison.
    """
    segments = {key: v for key, v in cheap_per_week.items() if v > 0}
    if not segments:
        return {}
    # The detectors every segment has; answer-defect ones (only where fed) are left out: the
    # plan cannot know them, and they move the thresholds by a log factor only.
    detectors = len(cheap_per_week) * len(EVERY_SEGMENT)
    budget = base_budget_fraction(settings, exploring) * events_per_week
    # Each segment's detectors, counted as if the budget were split equally among this many.
    sharing = {key: detectors for key in segments}
    if false_alarm_weights is not None:
        mean_weight = sum(false_alarm_weights.values()) / len(false_alarm_weights)
        sharing = {
            key: max(1, round(detectors * mean_weight / false_alarm_weights[key]))
            for key in segments
        }

    def need(weeks: float) -> dict[int, float]:
        # One fixed point per distinct split (a single one for the service's equal split), not
        # one per segment: deployments have thousands of segments.
        rate = {d: _rate_for_time(weeks, d, settings) for d in set(sharing.values())}
        return {key: min(rate[sharing[key]], volume) for key, volume in segments.items()}

    if sum(segments.values()) <= budget:
        rates = dict(segments)  # the budget covers every cheap request
    else:
        # The smallest common detection time the budget can buy (need(T) shrinks as T grows).
        low, high = 1e-4, 1e6
        for _ in range(80):
            mid = math.sqrt(low * high)
            if sum(need(mid).values()) > budget:
                low = mid
            else:
                high = mid
        rates = need(high)
    plans = {}
    for key, rate in rates.items():
        days = detection_days(rate, sharing[key], settings)
        probability = max(min(1.0, rate / segments[key]), settings.sampling_min_rate)
        plans[key] = SegmentPlan(probability, rate, days, days > settings.detection_days)
    return plans


@dataclass(frozen=True)
class TrafficTotals:
    """Deployment-wide counts that steer the allocation (slightly stale is fine: the
    probability actually used is the one stored). ``span_weeks`` is the event-time span of the
    stored traffic, so rates are on the traffic's own clock."""

    events: int
    cheap_events: int
    cheap_segments: int
    segment_cheap: Mapping[int, int] = field(default_factory=dict)
    span_weeks: float = 0.0
    _plans: dict[str, dict[int, SegmentPlan]] = field(default_factory=dict, compare=False)

    def plans(self, settings: Settings, exploring: bool = False) -> dict[int, SegmentPlan]:
        """The power allocation for these totals (computed once per totals object and
        exploration state)."""
        key = "exploring" if exploring else "plan"
        if key not in self._plans:
            weeks = max(self.span_weeks, _HOUR_IN_WEEKS)
            self._plans[key] = plan_allocation(
                {k: v / weeks for k, v in self.segment_cheap.items()},
                self.events / weeks,
                settings,
                exploring=exploring,
            )
        return self._plans[key]


def inclusion_probability(
    segment_cheap_events: int,
    totals: TrafficTotals,
    settings: Settings,
    segment_id: int | None = None,
    exploring: bool = False,
) -> float:
    """The base design's probability (``exploring``: slices are under watch, so the base
    design keeps to what the exploration share leaves)."""
    fraction = base_budget_fraction(settings, exploring)
    if totals.cheap_events <= 0 or totals.events <= 0:
        candidate_budget = fraction
    else:
        candidate_budget = min(1.0, fraction * totals.events / totals.cheap_events)
    plan = totals.plans(settings, exploring).get(segment_id) if segment_id is not None else None
    if segment_cheap_events < settings.sampling_warmup_events:
        # A new segment's share is unknown; sample it generously until it is.
        p = min(1.0, WARMUP_MULTIPLIER * candidate_budget)
    elif settings.sampling_equal_share is None and plan is not None:
        p = plan.probability
    else:
        share = segment_cheap_events / max(totals.cheap_events, 1)
        p = allocation_probability(
            share,
            max(totals.cheap_segments, 1),
            candidate_budget,
            settings.sampling_equal_share if settings.sampling_equal_share is not None else 1.0,
        )
    return max(p, settings.sampling_min_rate)


def worth_shadowing(status: str, answer: str | None) -> bool:
    """Whether a cheap-routed event can yield a verdict, and so is worth a flagship run.

    A router error (or a call that returned no answer) has nothing to compare the flagship's
    answer with: it would spend a run that never gets a verdict. Such events still count in
    the error-rate signal and in every volume; they are only left out of the shadow sample.
    """
    return status != "error" and answer is not None


@dataclass(frozen=True)
class Decision:
    sampled: bool
    hash_value: float
    replicates: int  # 1, or 2 when the flagship is also re-run for the noise floor


def decide(event_id: str, probability: float, settings: Settings) -> Decision:
    u = hash_unit(settings.sampling_salt, event_id)
    sampled = u < probability
    noise = hash_unit(settings.sampling_salt + ":noise", event_id) < settings.noise_floor_fraction
    return Decision(sampled=sampled, hash_value=u, replicates=2 if sampled and noise else 1)


def combined_probability(p_base: float, p_explore: float) -> float:
    """Inclusion probability of two independent draws: ``1 - (1 - p_base)(1 - p_explore)``
    (exactly ``p_base`` without exploration, so unboosted requests store what they did)."""
    if p_explore <= 0.0:
        return p_base
    return 1.0 - (1.0 - p_base) * (1.0 - p_explore)


def base_budget_fraction(settings: Settings, exploring: bool = True) -> float:
    """The budget the base design plans with: what exploration leaves of it while slices are
    under watch (``exploring``), all of it otherwise (an idle share would be wasted) and when
    the budget is every request (nothing is left to explore)."""
    if not exploring or settings.sampling_budget_fraction >= 1.0:
        return settings.sampling_budget_fraction
    return settings.sampling_budget_fraction * (1.0 - settings.slice_exploration_share)


@dataclass(frozen=True)
class ExploredDecision:
    """A decision with an exploration draw: which draw took the event, and its probability."""

    base: bool  # the base design's draw took it (the quality detectors read only these)
    explore: bool  # the exploration draw took it
    probability: float  # 1 - (1 - p_base)(1 - p_explore): the one to weight it by
    hash_value: float
    replicates: int

    @property
    def sampled(self) -> bool:
        return self.base or self.explore


def decide_explored(
    event_id: str, p_base: float, p_explore: float, settings: Settings
) -> ExploredDecision:
    """The base draw (as :func:`decide`) and an independent exploration draw."""
    u = hash_unit(settings.sampling_salt, event_id)
    explore = p_explore > 0 and hash_unit(settings.sampling_salt + ":explore", event_id) < p_explore
    sampled = u < p_base or explore
    # The noise draw only matters for a sampled event (decide's, computed once here).
    noise = sampled and (
        hash_unit(settings.sampling_salt + ":noise", event_id) < settings.noise_floor_fraction
    )
    return ExploredDecision(
        base=u < p_base,
        explore=explore,
        probability=combined_probability(p_base, p_explore),
        hash_value=u,
        replicates=2 if noise else 1,
    )
