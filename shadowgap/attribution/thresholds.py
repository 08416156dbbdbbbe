"""Threshold what-if: what another router threshold would do to a segment.

The router sends a request cheap when its score is below the threshold (or above it: the
``router_cheap_when`` setting). For candidate thresholds at every 5% of the segment's score
distribution this estimates

- the cheap share: the share of the segment's requests the threshold would send cheap;
- the expected excess gap on the requests it would send cheap: the Hajek flagship-wins rate of
  the judged pairs whose score falls on the cheap side, weighted ``1 / inclusion_probability``,
  minus the flagship's noise floor, with its 95% interval
  (:func:`shadowgap.stats.excess_gap.excess_gap`). Forward pairs ('gap' verdicts) cover the
  requests the router already sends cheap; reverse-shadow pairs ('reverse' verdicts: a
  flagship-routed request re-run on the cheap model) cover the flagship-routed ones near the
  threshold. Each design has its own inclusion probabilities over its own population, so the
  pooled Hajek estimate stays unbiased over the requests below the threshold;
- the cost per request: the cheap share times the cheap path's mean router-reported cost plus
  the rest times the flagship's.

A threshold that would send cheap some flagship-routed requests above the highest score the
reverse shadow has judged is *not covered*: nothing has been seen of how the cheap model does
there, and it gets no estimate. The recommendation is the covered threshold with the largest
cheap share whose gap is under ``target_excess_gap`` with 90% one-sided confidence for the
threshold it picks, searched over candidates at every 0.5% of the score distribution (the table
shows every 5%): see :func:`recommend` for how the per-candidate bound is set so that the
*chosen* threshold holds the target in 90% of cases.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats
from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from shadowgap.attribution.bands import routing_boundary
from shadowgap.attribution.periods import Period, Window, load_period
from shadowgap.db.models import TrafficEvent, Verdict
from shadowgap.db.verdict_sums import WEIGHTED, sum_columns
from shadowgap.enums import VerdictKind, Winner
from shadowgap.stats.excess_gap import (
    ExcessGap,
    WeightedSums,
    excess_gap,
    one_sided_bound,
    standard_error,
)

QUANTILE_STEP = 0.05
# The recommendation searches a finer grid than the table shows: at 5% steps the largest
# certified threshold lies on average half a step (2.5 points of cheap share) below the last
# one whose bound holds, a third of what a week of pairs can certify at all
# (benchmarks/loop_proposals.py, 200 runs: 58-90% of the tuned-margin oracle's savings at 5%
# steps, 76-98% at 1%, 80-100% at 0.5%, the realised gap over the target in 6-10% of runs).
SEARCH_STEP = 0.005
# The recommended threshold's gap must be under the target with this one-sided confidence: the
# realised gap of the threshold it picks exceeds the target in at most 10% of cases.
# 95% two-sided (97.5% one-sided) certifies too little cheap traffic at a week's volume of
# pairs (benchmarks/attribution.py: a tenth of the achievable share).
ONE_SIDED_CONFIDENCE = 0.90
# Each candidate's bound is one-sided at this level, stricter than ONE_SIDED_CONFIDENCE because
# the pick is the largest of ~100 correlated candidates whose bound holds: a threshold past the
# true limit is picked when the bound of *any* candidate past it holds, so at 90% per candidate
# the picked threshold broke the target in 10.5-11.5% of runs at a week of pairs
# (benchmarks/loop_proposals.py, 2,000 runs). Set on a prototype of that benchmark (seeds 1-3,
# 1,000 runs a row each), not on the seed it reports.
CANDIDATE_CONFIDENCE = 0.92
# A threshold's gap needs at least this many judged pairs on its cheap side.
MIN_PAIRS = 20


@dataclass(frozen=True)
class JudgedPairs:
    """Judged pairs (forward and reverse) with the route score of their request."""

    score: np.ndarray
    flagship_won: np.ndarray
    weight: np.ndarray
    reverse: np.ndarray  # bool: a reverse-shadow pair


@dataclass(frozen=True)
class ThresholdRow:
    threshold: float
    cheap_share: float
    cost_per_request: float | None
    covered: bool
    gap: ExcessGap | None

    def view(self) -> dict[str, Any]:
        gap = self.gap
        return {
            "threshold": self.threshold,
            "cheap_share": self.cheap_share,
            "cost_per_request_usd": self.cost_per_request,
            "covered": bool(self.covered),
            "pairs": int(gap.gap_pairs) if gap else 0,
            "excess_gap": gap.excess if gap else None,
            "excess_gap_ci": [gap.ci_low, gap.ci_high] if gap and gap.excess is not None else None,
        }


def pair_sums(won: np.ndarray, weight: np.ndarray) -> WeightedSums:
    """The five weighted sums of judged pairs (0/1 flagship wins, Hajek weights)."""
    return WeightedSums.of(
        (won.size, weight.sum(), (weight * won).sum(), (weight**2).sum(), (weight**2 * won).sum())
    )


def _cumulative_sums(
    pair_score: np.ndarray, won: np.ndarray, weight: np.ndarray, thresholds: np.ndarray
) -> list[WeightedSums]:
    """:func:`pair_sums` of the pairs scored below each threshold, from one sort and running
    sums instead of a pass over the pairs per threshold."""
    order = np.argsort(pair_score, kind="stable")
    won, weight = won[order], weight[order]
    below = np.searchsorted(pair_score[order], thresholds, side="left")
    columns = [weight, weight * won, weight**2, weight**2 * won]
    running = [np.concatenate(([0.0], np.cumsum(c)))[below] for c in columns]
    return [WeightedSums(int(k), *(float(r[i]) for r in running)) for i, k in enumerate(below)]


def _mean(values: np.ndarray) -> float | None:
    values = values[np.isfinite(values)]
    return float(values.mean()) if values.size else None


def threshold_table(
    period: Period,
    pairs: JudgedPairs,
    noise: WeightedSums,
    global_noise: WeightedSums,
    *,
    cheap_below: bool = True,
    step: float = QUANTILE_STEP,
) -> list[ThresholdRow]:
    """One row per candidate threshold (at every ``step`` of the score distribution),
    cheapest last (scores of ``period`` must be known)."""
    sign = 1.0 if cheap_below else -1.0
    scored = np.isfinite(period.score)
    # Internally "cheap when below": the 'above' direction is the same on negated scores.
    score, cheap = sign * period.score[scored], period.cheap[scored] > 0
    if score.size == 0:
        return []
    pair_score = sign * pairs.score
    ordered = np.sort(score)
    candidates = np.unique(np.quantile(ordered, np.arange(step, 1.0 - step / 2, step)))
    candidates = np.append(candidates, np.nextafter(ordered[-1], np.inf))
    reverse_top = pair_score[pairs.reverse].max() if pairs.reverse.any() else -np.inf
    cheap_cost = _mean(period.cost[scored][cheap])
    flagship_cost = _mean(period.cost[scored][~cheap])
    shares = np.searchsorted(ordered, candidates, side="left") / score.size
    # Flagship-routed requests a threshold would send cheap past the reverse shadow's reach:
    # those scored in (reverse_top, t).
    flagship = np.sort(score[~cheap])
    uncovered = np.maximum(
        np.searchsorted(flagship, candidates, side="left")
        - np.searchsorted(flagship, reverse_top, side="right"),
        0,
    )
    sums = _cumulative_sums(pair_score, pairs.flagship_won, pairs.weight, candidates)
    rows = []
    for t, share, outside, below in zip(candidates, shares, uncovered, sums, strict=True):
        gap = None
        if outside == 0 and below.n >= MIN_PAIRS:
            gap = excess_gap(below, noise, global_noise)
        cost = None
        if cheap_cost is not None or flagship_cost is not None:
            cost = share * (cheap_cost or 0.0) + (1 - share) * (flagship_cost or 0.0)
        rows.append(ThresholdRow(float(sign * t), float(share), cost, bool(outside == 0), gap))
    return rows


def upper_bound(gap: ExcessGap, confidence: float = CANDIDATE_CONFIDENCE) -> float | None:
    """One-sided upper confidence bound of the excess gap."""
    return one_sided_bound(gap, confidence)


def recommend(
    rows: list[ThresholdRow], target: float, confidence: float = CANDIDATE_CONFIDENCE
) -> ThresholdRow | None:
    """The covered threshold with the largest cheap share whose gap is under the target:
    its estimate plus ``z(confidence)`` standard errors, where the standard error is the
    smaller of its own and the *boundary*'s, the covered candidate with the largest cheap share
    whose point estimate is under the target.

    Why the boundary's: a pick breaks the target only when it lies past the true limit, and a
    candidate below the boundary lies past it only if the boundary does too, where the evidence
    is at least the boundary's. A candidate's own standard error is larger the fewer pairs lie
    below it, so bounding each candidate with its own spends the confidence where no
    exceedance comes from: at the stricter level that holds the exceedance
    (CANDIDATE_CONFIDENCE), where the gap rises early (a concave curve over the score) the pick
    then falls far below the limit, keeping 79-87% of the savings a tuned fixed margin keeps at
    a week of pairs; with the boundary's, 90-97% (prototype of benchmarks/loop_proposals.py)."""
    estimated = [
        (row, row.gap.excess, standard_error(row.gap))
        for row in rows
        if row.covered and row.gap is not None and row.gap.excess is not None
    ]
    under = [(row, se) for row, excess, se in estimated if excess < target and se is not None]
    if not under:
        return None
    boundary_se = max(under, key=lambda pair: pair[0].cheap_share)[1]
    z = float(stats.norm.ppf(confidence))
    safe = [
        row
        for row, excess, se in estimated
        if se is not None and excess + z * min(se, boundary_se) < target
    ]
    return max(safe, key=lambda r: r.cheap_share) if safe else None


def shown_rows(search: list[ThresholdRow], best: ThresholdRow | None) -> list[ThresholdRow]:
    """The rows at every 5% of the score distribution, the recommended one and the last."""
    every = max(1, round(QUANTILE_STEP / SEARCH_STEP))
    return [
        row
        for index, row in enumerate(search)
        if (index + 1) % every == 0 or row is best or index == len(search) - 1
    ]


def load_pairs(session: Session, segment_id: int, window: Window) -> JudgedPairs:
    """The segment's 'gap' and 'reverse' pairs in ``window`` whose request has a score."""
    E, V = TrafficEvent, Verdict
    query = (
        select(E.route_score, V.winner, V.inclusion_probability, V.kind)
        .join(E, E.id == V.event_pk)
        .where(
            V.segment_id == segment_id,
            V.kind.in_((VerdictKind.GAP, VerdictKind.REVERSE)),
            V.inclusion_probability > 0,
            E.route_score.is_not(None),
        )
    )
    query = _in_window(query, window)
    rows = session.execute(query).all()
    return JudgedPairs(
        score=np.array([r[0] for r in rows], dtype=float),
        flagship_won=np.array([1.0 if r[1] == Winner.FLAGSHIP else 0.0 for r in rows]),
        weight=np.array([1.0 / min(1.0, r[2]) for r in rows], dtype=float),
        reverse=np.array([r[3] == VerdictKind.REVERSE for r in rows], dtype=bool),
    )


def _in_window(query: Any, window: Window) -> Any:
    E = TrafficEvent
    if window.start is not None:
        query = query.where(E.occurred_at >= window.start)
    if window.end is not None:
        query = query.where(E.occurred_at < window.end)
    return query


def noise_sums(session: Session, window: Window, segment_id: int | None) -> WeightedSums:
    """Weighted flagship-wins sums of the window's 'noise' pairs (all segments when None)."""
    E, V = TrafficEvent, Verdict
    query = (
        select(*sum_columns())
        .join(E, and_(E.id == V.event_pk))
        .where(V.kind == VerdictKind.NOISE, WEIGHTED)
    )
    if segment_id is not None:
        query = query.where(V.segment_id == segment_id)
    return WeightedSums.of(session.execute(_in_window(query, window)).one())


def what_if(
    session: Session, segment_id: int, window: Window, *, target: float, cheap_below: bool
) -> dict[str, Any]:
    """The segment's threshold table, current threshold and recommendation, as JSON."""
    period = load_period(session, segment_id, window)
    pairs = load_pairs(session, segment_id, window)
    search = threshold_table(
        period,
        pairs,
        noise_sums(session, window, segment_id),
        noise_sums(session, window, None),
        cheap_below=cheap_below,
        step=SEARCH_STEP,
    )
    best = recommend(search, target)
    rows = shown_rows(search, best)
    current = routing_boundary(period)
    return {
        "window": window.describe(),
        "events": len(period),
        "scored_events": int(np.count_nonzero(np.isfinite(period.score))),
        "forward_pairs": int(np.count_nonzero(~pairs.reverse)),
        "reverse_pairs": int(np.count_nonzero(pairs.reverse)),
        "cheap_when": "below" if cheap_below else "above",
        "target_excess_gap": target,
        "current_threshold": current,
        "current_cheap_share": float(period.cheap.mean()) if len(period) else None,
        "recommended": best.view() if best else None,
        "recommendation_confidence": ONE_SIDED_CONFIDENCE,
        "thresholds": [row.view() for row in rows],
    }
