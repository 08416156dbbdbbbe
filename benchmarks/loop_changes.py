"""Router-change verification: how fast a bad change is flagged, how often a neutral one is.

Synthetic traffic of ``benchmarks/small_segments.py``'s deployment (20 segments, Zipf volumes,
30,000 events a week, the shipped power allocation at the default 2% budget): for the 2%
segment (and the busiest, for contrast) a router change goes live after ``change_before_days``
of traffic and is verified by the shipped code (:func:`shadowgap.changes.verify.take_looks`,
the same looks, levels and statistics the ``changes.verify`` job uses) over the
``change_verify_days`` horizon, at the shipped defaults.

A. **Bad change.** The segment's flagship-wins rate among cheap pairs rises by 0.10 when the
   change goes live (the excess gap rises by 0.10). Delay: judged pairs after the change until
   the look that flags it; a run not flagged within the horizon counts as never flagged, so
   the target is on the median (the mean, with such runs at the horizon's pairs, is printed
   as a lower bound). Baseline, computed in the same run for the same streams: the detection
   benchmark's limit at that segment's verdict rate, the exact worst-case delay of a CUSUM that
   knows the levels before and after, at the ARL0 the false-alarm budget gives that detector
   (``design_bernoulli_cusum(p0, p0 + 0.1, arl0_for_rate(1, D, rate)).arl1``, as
   ``small_segments.py`` section A). Target: median delay <= 1.5x the mean limit.
B. **Neutral change.** Nothing moves (quality, cost, latency all stationary). Target: flagged
   ("regressed", quality, cost and p95 counted together) in <= 5% of runs over the horizon.

Figures are counts of verdicts and shares of runs, not times, so the machine's load does not
enter. Usage: python benchmarks/loop_changes.py [--quick] [--seed N] [--runs N]
(exit 1 when a target fails)
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import small_segments  # noqa: E402

from shadowgap.changes.verify import Window, take_looks  # noqa: E402
from shadowgap.config import Settings  # noqa: E402
from shadowgap.drift import design_bernoulli_cusum  # noqa: E402
from shadowgap.drift.budget import arl0_for_rate  # noqa: E402

DAY = 86_400.0
EFFECT = 0.10  # the rise of the excess gap a bad change brings
NOISE_RATE = 0.10  # the flagship against itself (known floor: both sides subtract it)
NOISE_PAIRS = 400
FLAGSHIP_COST = 10.0  # times the cheap model's cost
SEGMENTS = {"2% segment": small_segments.SMALL, "busiest segment": 0}


def side(
    rng: np.random.Generator,
    dep: small_segments.Deployment,
    segment: int,
    start: float,
    days: float,
    win_rate: float,
) -> Window:
    """One window of a segment's events and judged pairs, in event-time order."""
    per_day = small_segments.EVENTS_PER_WEEK * float(dep.shares[segment]) / 7.0
    n = int(rng.poisson(per_day * days))
    times = np.sort(rng.uniform(start, start + days * DAY, n))
    cheap = rng.random(n) < float(dep.cheap[segment])
    cost = np.exp(rng.normal(float(dep.cost_mu[segment]), 0.5, n))
    cost = np.where(cheap, cost, cost * FLAGSHIP_COST)
    latency = np.exp(rng.normal(float(dep.latency_mu[segment]), 0.4, n))
    probability = float(dep.sample_p[segment])
    sampled = cheap & (rng.random(n) < probability)
    pair_times = times[sampled]
    return Window(
        times=times,
        cheap=cheap,
        cost=cost,
        latency=latency,
        pair_times=pair_times,
        pair_y=(rng.random(pair_times.size) < win_rate).astype(float),
        pair_w=np.full(pair_times.size, 1.0 / probability),
    )


def run_once(
    rng: np.random.Generator,
    dep: small_segments.Deployment,
    segment: int,
    settings: Settings,
    effect: float,
) -> dict[str, Any]:
    p0 = float(rng.beta(4, 12))
    before = side(
        rng, dep, segment, -settings.change_before_days * DAY, settings.change_before_days, p0
    )
    after = side(rng, dep, segment, 0.0, settings.change_verify_days, min(p0 + effect, 0.99))
    noise = (NOISE_RATE, NOISE_RATE * (1 - NOISE_RATE) / NOISE_PAIRS)
    looks, _ = take_looks(before, after, noise, settings, None, [], -1, finished=True, at=0.0)
    flagged = next((look for look in looks if look["worse"]), None)
    return {
        "p0": p0,
        "flagged": flagged is not None,
        "worse": flagged["worse"] if flagged else [],
        "delay": flagged["pairs_after"] if flagged else int(after.pair_w.size),
        "pairs_before": int(before.pair_w.size),
        "pairs_horizon": int(after.pair_w.size),
        "first_look_pairs": next((look["pairs_after"] for look in looks if look["decisive"]), None),
    }


def verdict_rate(dep: small_segments.Deployment, segment: int) -> float:
    """Judged pairs a week (events x cheap share x inclusion probability)."""
    events = small_segments.EVENTS_PER_WEEK * float(dep.shares[segment])
    return events * float(dep.cheap[segment]) * float(dep.sample_p[segment])


def section(
    dep: small_segments.Deployment, segment: int, settings: Settings, runs: int, seed: int
) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    rate = verdict_rate(dep, segment)
    arl0 = arl0_for_rate(1.0, dep.detectors, rate)
    bad = [run_once(rng, dep, segment, settings, EFFECT) for _ in range(runs)]
    limits = [
        design_bernoulli_cusum(round(r["p0"], 4), round(min(r["p0"] + EFFECT, 0.99), 4), arl0).arl1
        for r in bad
    ]
    neutral = [run_once(rng, dep, segment, settings, 0.0) for _ in range(runs)]
    flagged = sum(r["flagged"] for r in neutral)
    by_metric: dict[str, int] = {}
    for r in neutral:
        for metric in r["worse"]:
            by_metric[metric] = by_metric.get(metric, 0) + 1
    limit = statistics.fmean(limits)
    # A run not flagged within the horizon has no delay: it counts as never (median), and at
    # the horizon's pairs in the mean, which is then a lower bound (marked).
    delays = sorted(r["delay"] if r["flagged"] else math.inf for r in bad)
    median = (
        delays[len(delays) // 2]
        if len(delays) % 2
        else sum(delays[len(delays) // 2 - 1 : len(delays) // 2 + 1]) / 2
    )
    return {
        "verdicts_per_week": rate,
        "arl0": arl0,
        "median_delay": median,
        "mean_delay_lower_bound": statistics.fmean(r["delay"] for r in bad),
        "mean_limit": limit,
        "ratio": median / limit,
        "missed": sum(not r["flagged"] for r in bad),
        "bad_worse_quality": sum("excess_gap" in r["worse"] for r in bad),
        # Neutral runs: a bad change is often flagged before any look is decisive.
        "first_look_pairs": statistics.fmean(
            [r["first_look_pairs"] for r in neutral if r["first_look_pairs"] is not None] or [0]
        ),
        "pairs_before": statistics.fmean(r["pairs_before"] for r in bad),
        "pairs_horizon": statistics.fmean(r["pairs_horizon"] for r in bad),
        "neutral_flagged": flagged,
        "neutral_rate": flagged / runs,
        # Clopper-Pearson upper 95% bound of the false-flag rate.
        "neutral_upper": float(stats.beta.ppf(0.975, flagged + 1, runs - flagged)),
        "neutral_by_metric": by_metric,
        "runs": runs,
    }


def targets(result: dict[str, Any]) -> list[tuple[str, bool, str]]:
    out = []
    for name, row in result["segments"].items():
        out.append(
            (
                f"{name}: bad change (+0.10 excess gap) flagged within 1.5x the detection limit "
                "(median delay)",
                row["ratio"] <= 1.5,
                f"median {row['median_delay']:.0f} vs limit {row['mean_limit']:.0f} verdicts "
                f"({row['ratio']:.2f}x; {row['missed']} of {row['runs']} not flagged within the "
                f"horizon; mean >= {row['mean_delay_lower_bound']:.0f})",
            )
        )
        out.append(
            (
                f"{name}: neutral change flagged in <= 5% of runs over "
                f"{result['horizon_days']:.0f} days",
                row["neutral_rate"] <= 0.05,
                f"{row['neutral_flagged']} of {row['runs']} ({row['neutral_rate']:.1%}; 95% upper "
                f"{row['neutral_upper']:.1%}; by metric {row['neutral_by_metric'] or 'none'})",
            )
        )
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--runs", type=int, default=None)
    args = parser.parse_args(argv)
    runs = args.runs or (60 if args.quick else 400)
    settings = Settings()  # the shipped defaults
    dep = small_segments.deployment(
        np.random.default_rng(args.seed), settings, small_segments.EVENTS_PER_WEEK
    )
    result = {
        "horizon_days": settings.change_verify_days,
        "before_days": settings.change_before_days,
        "segments": {
            name: section(dep, index, settings, runs, args.seed + index)
            for name, index in SEGMENTS.items()
        },
    }
    print(
        f"Router-change verification at the shipped defaults: {settings.change_before_days:g} "
        f"days before, {settings.change_verify_days:g}-day horizon, false-flag rate "
        f"{settings.change_false_flag_rate:g}, powered for +{settings.change_min_effect:g}; "
        f"{runs} runs per case"
    )
    header = (
        f"{'segment':<16} {'pairs/wk':>8} {'ARL0':>8} {'median':>7} {'limit':>7} {'x':>5} "
        f"{'missed':>6} {'1st look':>8} {'before':>7} {'horizon':>7} {'neutral flagged':>16}"
    )
    print(header)
    for name, row in result["segments"].items():
        print(
            f"{name:<16} {row['verdicts_per_week']:>8.0f} {row['arl0']:>8.0f} "
            f"{row['median_delay']:>7.0f} {row['mean_limit']:>7.0f} {row['ratio']:>5.2f} "
            f"{row['missed']:>6} {row['first_look_pairs']:>8.0f} {row['pairs_before']:>7.0f} "
            f"{row['pairs_horizon']:>7.0f} {row['neutral_rate']:>15.1%}"
        )
    print(
        "(median: judged pairs after the change until flagged, a run not flagged in the horizon "
        "counting as never (inf); limit: the baseline, the exact worst-case delay "
        "of a CUSUM knowing both levels at this segment's ARL0, the baseline; 1st look: mean "
        "pairs at the first decisive look of a neutral change (verified from then on); before, "
        "horizon: "
        "mean pairs in the before window and in the horizon)"
    )
    failed = 0
    for name, ok, detail in targets(result):
        print(f"{'PASS' if ok else 'FAIL'}  {name}: {detail}")
        failed += not ok
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
