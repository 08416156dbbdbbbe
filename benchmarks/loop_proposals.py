"""Threshold proposals on synthetic segments with known true gap curves over the router score.

A segment of 10,000 requests a week, router scores uniform on [0, 1); the router sends a
request cheap when its score is below 0.5 (today's threshold, too loose for the target). The
flagship beats the cheap answer with probability ``noise + g(score)``, where the excess gap
``g`` is one of three true curves (all reach the 5% target at a known limit ``t*``):

- linear  g(s) = 0.4 s          (t* = 0.25; the curve of benchmarks/attribution.py)
- convex  g(s) = 5/3 s^2        (t* = 0.30)
- concave g(s) = 0.137 sqrt(s)  (t* = 0.30)

Pairs are drawn at the shipped defaults: cheap-routed requests judged at 10% or 30% (half
each), the reverse shadow (``reverse_shadow_rate`` of the flagship-routed requests within
``reverse_shadow_band`` of the threshold), noise pairs for ``noise_floor_fraction`` of the
judged requests, noise floor 5%. The product's own search (``threshold_table`` at
``SEARCH_STEP`` + ``recommend``, shipped defaults) is then scored on the true curve: its
realised excess gap is the exact mean of ``g`` below the threshold, its savings its cheap share
(the cost difference per request is the same at every score).

Draws are reused: each run draws 8 weeks of requests once; the 1- and 4-week evidence is its
first 1 and 4 weeks, and the three curves share every uniform (a request's flagship win is
``u < noise + g(score)`` with the same ``u``). Rows are therefore paired (same draws), and the
three rules below are scored on the very same tables.

Measured per curve and evidence window (1, 4, 8 weeks of pairs), over ``--runs`` runs:

- exceed: the share of runs whose realised excess gap exceeds the target (target <= 10%), with
  its 95% Clopper-Pearson interval;
- vs oracle: the recommendation's savings over those of the best fixed-margin rule on the same
  tables (the largest covered candidate whose point estimate is under ``target - m``), ``m``
  the smallest margin whose realised gap exceeds the target in <= 10% of the runs: tuned on the
  true curve, i.e. what the evidence allows at best (target >= 90%). ``m`` is exact, not on a
  grid: a run breaks the target at margin ``m`` iff some covered candidate past ``t*`` has an
  estimate under ``target - m``, so the smallest ``m`` is an order statistic of the runs'
  critical margins. 95% interval: percentile bootstrap over runs, the recommendation and the
  oracle resampled together (``shadowgap.stats.bootstrap.paired_ratio_interval``);
- vs truth: savings relative to the true limit ``t*`` (reported, no target);
- baseline, same tables: the rule before this one (every candidate bounded at 90% one-sided
  with its own standard error).

A row PASSes when the point estimates meet both targets (exceed <= 10%, vs oracle >= 90%); the
intervals say how far the verdict is from noise. Exit 1 on any FAIL.

Usage: python benchmarks/loop_proposals.py [--runs N] [--quick] [--seed N]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shadowgap.attribution.periods import Period  # noqa: E402
from shadowgap.attribution.thresholds import (  # noqa: E402
    ONE_SIDED_CONFIDENCE,
    SEARCH_STEP,
    JudgedPairs,
    ThresholdRow,
    recommend,
    threshold_table,
)
from shadowgap.config import Settings  # noqa: E402
from shadowgap.stats.bootstrap import paired_ratio_interval  # noqa: E402
from shadowgap.stats.excess_gap import WeightedSums, standard_error  # noqa: E402

REQUESTS_PER_WEEK = 10_000
TODAY = 0.5
NOISE = 0.05
SAMPLE_RATES = (0.1, 0.3)
MAX_EXCEED = 0.10
MIN_ORACLE_SHARE = 0.90
WEEKS = (1, 4, 8)
CONCAVE_A = 0.05 * 1.5 / np.sqrt(0.3)
DEFAULT_RUNS = 2000
QUICK_RUNS = 200
# The seed the figures in docs/proposals.md are reported at. The rule's per-candidate level
# was set on other draws (a prototype of this set-up, seeds 1 and 2), never on this seed.
DEFAULT_SEED = 2026

Curve = tuple[Callable[[np.ndarray], np.ndarray], Callable[[float], float]]
# name: (excess gap g(s), its mean below t: G(t) = (1/t) integral_0^t g)
CURVES: dict[str, Curve] = {
    "linear": (lambda s: 0.4 * s, lambda t: 0.2 * t),
    "convex": (lambda s: (5.0 / 3.0) * s**2, lambda t: (5.0 / 9.0) * t**2),
    "concave": (lambda s: CONCAVE_A * np.sqrt(s), lambda t: CONCAVE_A * 2.0 / 3.0 * np.sqrt(t)),
}


def true_limit(mean_gap: Callable[[float], float], target: float) -> float:
    low, high = 0.0, 1.0
    for _ in range(60):
        middle = (low + high) / 2
        low, high = (middle, high) if mean_gap(middle) <= target else (low, middle)
    return low


@dataclass(frozen=True)
class Draws:
    """One run's uniforms for the longest window; shorter windows use a prefix."""

    score: np.ndarray
    probability: np.ndarray  # the judging rate each cheap-routed request was sampled at
    judge: np.ndarray
    reverse: np.ndarray
    win: np.ndarray
    noise: np.ndarray  # one per possible noise pair

    @classmethod
    def draw(cls, rng: np.random.Generator, n: int, noise_fraction: float) -> Draws:
        return cls(
            score=rng.uniform(0.0, 1.0, n),
            probability=np.where(rng.random(n) < 0.5, *SAMPLE_RATES),
            judge=rng.random(n),
            reverse=rng.random(n),
            win=rng.random(n),
            noise=rng.random(max(2, int(noise_fraction * n)) + 1),
        )


def evidence(
    draws: Draws, weeks: int, gap: Callable[[np.ndarray], np.ndarray], s: Settings
) -> tuple[Period, JudgedPairs, WeightedSums]:
    n = REQUESTS_PER_WEEK * weeks
    score, probability = draws.score[:n], draws.probability[:n]
    cheap = score < TODAY
    judged = cheap & (draws.judge[:n] < probability)
    band = ~cheap & (score <= TODAY + s.reverse_shadow_band)
    reverse = band & (draws.reverse[:n] < s.reverse_shadow_rate)
    picked = judged | reverse
    won = draws.win[:n] < np.clip(NOISE + gap(score), 0.0, 1.0)
    period = Period(
        score=score,
        cheap=cheap.astype(float),
        verdict_weight=np.where(judged, 1.0 / probability, 0.0),
        flagship_won=(won & judged).astype(float),
        cost=np.where(cheap, 0.0008, 0.012),
        latency=np.full(n, np.nan),
        escalated=np.zeros(n),
    )
    pairs = JudgedPairs(
        score=score[picked],
        flagship_won=won[picked].astype(float),
        weight=np.where(judged, 1.0 / probability, 1.0 / s.reverse_shadow_rate)[picked],
        reverse=reverse[picked],
    )
    noise_n = max(2, int(s.noise_floor_fraction * judged.sum()))
    ones = float((draws.noise[:noise_n] < NOISE).sum())
    noise = WeightedSums(noise_n, float(noise_n), ones, float(noise_n), ones)
    return period, pairs, noise


def previous_pick(rows: list[ThresholdRow], target: float) -> ThresholdRow | None:
    """The rule before this one, the baseline: every candidate bounded at 90% one-sided with
    its own standard error, the largest cheap share whose bound is under the target."""
    z = float(stats.norm.ppf(ONE_SIDED_CONFIDENCE))
    safe = []
    for row in rows:
        se = standard_error(row.gap) if row.covered and row.gap is not None else None
        if row.gap is not None and row.gap.excess is not None and se is not None:
            if row.gap.excess + z * se < target:
                safe.append(row)
    return max(safe, key=lambda r: r.cheap_share) if safe else None


@dataclass
class Row:
    """One curve x window: per run, the table's estimates and each rule's pick."""

    tables: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=list)
    shipped: list[tuple[float, float]] = field(default_factory=list)  # (threshold, share)
    previous: list[tuple[float, float]] = field(default_factory=list)

    def add(self, rows: list[ThresholdRow], target: float) -> None:
        estimates = [
            r.gap.excess if r.covered and r.gap and r.gap.excess is not None else np.inf
            for r in rows
        ]
        self.tables.append(
            (
                np.array([r.threshold for r in rows]),
                np.array([r.cheap_share for r in rows]),
                np.array(estimates),
            )
        )
        self.shipped.append(_pick(recommend(rows, target)))
        self.previous.append(_pick(previous_pick(rows, target)))


def _pick(row: ThresholdRow | None) -> tuple[float, float]:
    return (row.threshold, row.cheap_share) if row else (0.0, 0.0)


def oracle(row: Row, limit: float, target: float) -> tuple[float, np.ndarray]:
    """The smallest margin whose fixed-margin rule exceeds in <= MAX_EXCEED of the runs, and
    its cheap share per run. A run breaks the target at margin m iff a candidate past the true
    limit has an estimate under target - m, i.e. iff m < target - (its lowest such estimate)."""
    critical = np.array(
        [target - np.min(est[t > limit], initial=np.inf) for t, _, est in row.tables]
    )
    allowed = int(np.floor(MAX_EXCEED * len(critical)))
    margin = max(float(np.sort(critical)[::-1][allowed]), 0.0)
    shares = np.array(
        [np.max(share[est < target - margin], initial=0.0) for _, share, est in row.tables]
    )
    return margin, shares


def score(row: Row, mean_gap: Callable[[float], float], target: float, seed: int) -> dict[str, Any]:
    limit = true_limit(mean_gap, target)
    margin, oracle_shares = oracle(row, limit, target)

    def rule(picks: list[tuple[float, float]]) -> dict[str, Any]:
        thresholds = np.array([t for t, _ in picks])
        shares = np.array([share for _, share in picks])
        exceeded = int(sum(t > 0 and mean_gap(t) > target for t in thresholds))
        interval = stats.binomtest(exceeded, len(picks)).proportion_ci(0.95)
        ratio = paired_ratio_interval(shares, oracle_shares, n_resamples=999, seed=seed)
        return {
            "share": float(shares.mean()),
            "exceed": exceeded / len(picks),
            "exceed_ci": (interval.low, interval.high),
            "vs_oracle": float(shares.sum() / oracle_shares.sum()),
            "vs_oracle_ci": ratio or (float("nan"), float("nan")),
            "vs_truth": float(shares.mean()) / limit,
        }

    return {
        "limit": limit,
        "margin": margin,
        "shipped": rule(row.shipped),
        "previous": rule(row.previous),
    }


def evaluate(runs: int, seed: int, settings: Settings) -> dict[tuple[str, int], dict[str, Any]]:
    """Every curve x window over the same ``runs`` draws."""
    target = settings.target_excess_gap
    rng = np.random.default_rng(seed)
    rows = {(curve, weeks): Row() for curve in CURVES for weeks in WEEKS}
    n = REQUESTS_PER_WEEK * max(WEEKS)
    for _ in range(runs):
        draws = Draws.draw(rng, n, settings.noise_floor_fraction)
        for (curve, weeks), row in rows.items():
            period, pairs, noise = evidence(draws, weeks, CURVES[curve][0], settings)
            row.add(threshold_table(period, pairs, noise, WeightedSums(), step=SEARCH_STEP), target)
    return {key: score(row, CURVES[key[0]][1], target, seed) for key, row in rows.items()}


def passed(result: dict[str, Any]) -> bool:
    return result["exceed"] <= MAX_EXCEED and result["vs_oracle"] >= MIN_ORACLE_SHARE


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=DEFAULT_RUNS)
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_RUNS} runs, for iterating")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = parser.parse_args()
    runs = QUICK_RUNS if args.quick else args.runs
    settings = Settings()
    started, cpu = time.perf_counter(), time.process_time()
    print(
        f"Threshold proposals: {runs} runs (seed {args.seed}), the same draws for every row, "
        f"{REQUESTS_PER_WEEK:,} requests/week, target excess gap "
        f"{settings.target_excess_gap:.0%}, today's threshold {TODAY}"
    )
    print(
        f"  {'curve':<8}{'weeks':>6}{'t*':>6}{'share':>7}{'exceed [95% CI]':>20}"
        f"{'vs oracle [95% CI]':>22}{'vs truth':>9}{'oracle m':>9}"
        f"   baseline: exceed, vs oracle   result"
    )
    ok = True
    for (curve, weeks), r in evaluate(runs, args.seed, settings).items():
        new, old = r["shipped"], r["previous"]
        good = passed(new)
        ok &= good
        print(
            f"  {curve:<8}{weeks:>6}{r['limit']:>6.2f}{new['share']:>7.1%}"
            f"{new['exceed']:>8.1%} [{new['exceed_ci'][0]:4.1%}, {new['exceed_ci'][1]:5.1%}]"
            f"{new['vs_oracle']:>8.1%} [{new['vs_oracle_ci'][0]:5.1%}, "
            f"{new['vs_oracle_ci'][1]:6.1%}]{new['vs_truth']:>9.0%}{r['margin']:>9.4f}"
            f"   {old['exceed']:>8.1%}, {old['vs_oracle']:>6.1%}"
            f"{'PASS' if good else 'FAIL':>11}"
        )
    print(
        f"  targets: exceed <= {MAX_EXCEED:.0%}, vs oracle >= {MIN_ORACLE_SHARE:.0%} (point "
        "estimates); share = mean cheap share of the recommendation (= savings up to a constant)"
    )
    print(f"{time.perf_counter() - started:.1f} s wall, {time.process_time() - cpu:.1f} s CPU")
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
