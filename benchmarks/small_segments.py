"""Small segments at the default budget: detection delay and the deployment's false alarms.

The scenario of issue 11, on synthetic traffic the detectors were not tuned on: 20 segments
with Zipf(1) volumes (30,000 events a week in all), each with its own in-control levels drawn
at random: flagship-wins rate from Beta(4, 12) (so a pooled prior cannot win by construction),
cheap share, latency, escalation, error and cost. Sampling is the shipped power allocation at
the default 2% budget (:func:`shadowgap.shadow.sampling.plan_allocation`); detectors are the shipped
ones, fed through :class:`shadowgap.drift.state.SignalState` with the deployment's budget
(1 false alarm a week over 20 x 8 detectors), on the traffic's own clock.

A. **Delay.** The 2% segment's flagship-wins rate rises by 0.30 after six weeks. Its delay,
   in verdicts after the change, is compared with the exact worst-case delay of a CUSUM that
   knows the pre-change level and the post-change level, designed by ``budget.py`` at the
   ARL0 the budget gives that detector (``D * N_d / F``): the theoretical limit. The same
   streams go to the previous release's detector (CUSUM, 200-verdict warm-up, ARL0 from one
   deployment-wide ``N = 100,000`` samples a week) for comparison. Changes after two and four
   weeks are printed too (no target: with little history any detector that does not know the
   level is slower).
B. **False alarms.** 50 weeks of stationary traffic through every signal of every segment;
   every detection is a false alarm.

``--answer-signals K`` (default 0, a prose deployment) gives every segment K answer-defect
detectors with inputs as well (the first K of ``tool_call_invalid_rate``,
``schema_invalid_rate``, ``truncation_rate``, ``refusal_rate``, fed stationary defect rates on
cheap answers): each takes a quarter of a detector's share of the budget
(``shadowgap.drift.signals.ANSWER_SHARE``), so the budget is split over ``20 x (8 + K / 4)``
shares, which slows A a little and must keep B within its target.

Targets: A's mean delay <= 1.5x the limit; B's count within [25, 64] for a budget of 50
(at least half of it spent, at most the Poisson 95% upper bound).

Usage: python benchmarks/small_segments.py [--quick] [--seed N] [--answer-signals K]
(exit 1 when a target fails)
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shadowgap.config import Settings  # noqa: E402
from shadowgap.drift import SIGNALS, design_bernoulli_cusum  # noqa: E402
from shadowgap.drift.bernoulli_cusum import BernoulliCUSUM  # noqa: E402
from shadowgap.drift.budget import arl0_for_rate, arl0_per_detector  # noqa: E402
from shadowgap.drift.signals import (  # noqa: E402
    EVERY_SEGMENT,
    WHERE_FED,
    budget_detectors,
    budget_shares,
)
from shadowgap.drift.state import SignalState  # noqa: E402
from shadowgap.shadow.sampling import plan_allocation  # noqa: E402
from shadowgap.stats.pooled import beta_prior  # noqa: E402

WEEK = 7 * 86_400.0
SEGMENTS = 20
EVENTS_PER_WEEK = 30_000
SMALL = 13  # Zipf rank 14 of 20: 1.99% of traffic
SHIFT = 0.30
CHANGE_WEEKS = 6
FA_WEEKS = 50
# Stationary defect rates of cheap answers for the answer-defect detectors (--answer-signals).
DEFECT_RATES = {
    "tool_call_invalid_rate": 0.03,
    "schema_invalid_rate": 0.02,
    "truncation_rate": 0.02,
    "refusal_rate": 0.01,
}


@dataclass(frozen=True)
class Deployment:
    shares: np.ndarray
    cheap: np.ndarray  # cheap-routed share per segment
    gap: np.ndarray  # flagship-wins rate per segment
    latency_mu: np.ndarray
    escalation: np.ndarray
    error: np.ndarray
    cost_mu: np.ndarray
    sample_p: np.ndarray  # shipped inclusion probability per segment
    answer_signals: int = 0  # answer-defect detectors with inputs, per segment

    @property
    def detectors(self) -> int:
        """``D`` of an every-segment detector (the quality detector's)."""
        return self.detectors_for("quality_gap")

    def detectors_for(self, name: str) -> int:
        """``D`` of a detector of ``name``, as the store sizes it (budget_detectors)."""
        shares = budget_shares(SEGMENTS, SEGMENTS * self.answer_signals)
        return budget_detectors(SIGNALS[name], shares)


def deployment(
    rng: np.random.Generator, settings: Settings, events_per_week: float, answer_signals: int = 0
) -> Deployment:
    weights = 1.0 / np.arange(1, SEGMENTS + 1)
    shares = weights / weights.sum()
    cheap = rng.uniform(0.5, 0.9, SEGMENTS)
    plans = plan_allocation(
        {i: events_per_week * shares[i] * cheap[i] for i in range(SEGMENTS)},
        events_per_week,
        settings,
    )
    return Deployment(
        shares=shares,
        cheap=cheap,
        gap=rng.beta(4, 12, SEGMENTS),
        latency_mu=rng.uniform(5.0, 7.0, SEGMENTS),
        escalation=rng.uniform(0.02, 0.10, SEGMENTS),
        error=rng.uniform(0.005, 0.03, SEGMENTS),
        cost_mu=rng.uniform(-7.0, -4.0, SEGMENTS),
        sample_p=np.array([plans[i].probability for i in range(SEGMENTS)]),
        answer_signals=answer_signals,
    )


def new_state(name: str, detectors: int) -> SignalState:
    return SignalState(SIGNALS[name], arl0_for_rate(1.0, detectors, 1.0), 200, (1.0, detectors))


# --- A. delay in the small segment -----------------------------------------------------------


def verdict_times(rng: np.random.Generator, rate_per_week: float, weeks: float) -> np.ndarray:
    n = rng.poisson(rate_per_week * weeks)
    return np.sort(rng.uniform(0.0, weeks * WEEK, n))


def delay_run(
    rng: np.random.Generator, dep: Deployment, change_weeks: float, detectors: int
) -> dict[str, Any]:
    """One run: verdicts before and after the change, fed to the shipped and the old detector."""
    rate = EVENTS_PER_WEEK * dep.shares[SMALL] * dep.cheap[SMALL] * dep.sample_p[SMALL]
    p0 = float(rng.beta(4, 12))
    p1 = min(p0 + SHIFT, 0.99)
    pre_t = verdict_times(rng, rate, change_weeks)
    post_t = change_weeks * WEEK + verdict_times(rng, rate, 40.0)
    values = np.concatenate([rng.random(len(pre_t)) < p0, rng.random(len(post_t)) < p1])
    times = np.concatenate([pre_t, post_t])
    # The pooled prior as the store fits it: the other segments' verdicts so far.
    others = [
        (rng.binomial(n, float(rng.beta(4, 12))), n)
        for n in rng.poisson(rate * change_weeks, SEGMENTS - 1)
    ]
    state = new_state("quality_gap", detectors)
    state.set_prior(beta_prior(others))
    old = BernoulliCUSUM(
        direction="up",
        shift=0.10,
        warmup=200,
        arl0=arl0_per_detector(1.0, 32, len(EVERY_SEGMENT), 100_000),
    )
    found: dict[str, int | None] = {"shipped": None, "old": None}
    false_alarm = False
    for i, (value, at) in enumerate(zip(values, times, strict=True)):
        post = i - len(pre_t) + 1
        if found["shipped"] is None and state.feed(float(value), i, 1.0, float(at)) is not None:
            if post <= 0:
                false_alarm = True
            else:
                found["shipped"] = post
        if found["old"] is None and post > 0 and old.update(bool(value)).drift_detected:
            found["old"] = post
        elif post <= 0:
            old.update(bool(value))
        if found["shipped"] is not None and found["old"] is not None:
            break
    limit_arl0 = arl0_for_rate(1.0, detectors, rate)
    limit = design_bernoulli_cusum(round(p0, 4), round(p1, 4), limit_arl0).arl1
    censor = len(post_t)
    return {
        "shipped": found["shipped"] if found["shipped"] is not None else censor,
        "old": found["old"] if found["old"] is not None else censor,
        "old_censored": found["old"] is None,
        "limit": limit,
        "false_alarm_before_change": false_alarm,
        "pre_verdicts": len(pre_t),
        "rate": rate,
    }


def section_delay(dep: Deployment, runs: int, seed: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for weeks in (CHANGE_WEEKS, 4, 2):
        rng = np.random.default_rng(seed + weeks)
        rows = [delay_run(rng, dep, weeks, dep.detectors) for _ in range(runs)]
        shipped = statistics.fmean(r["shipped"] for r in rows)
        old = statistics.fmean(r["old"] for r in rows)
        limit = statistics.fmean(r["limit"] for r in rows)
        out[weeks] = {
            "runs": runs,
            "verdicts_per_week": rows[0]["rate"],
            "pre_verdicts": statistics.fmean(r["pre_verdicts"] for r in rows),
            "shipped_delay": shipped,
            "old_delay": old,
            "old_censored": sum(r["old_censored"] for r in rows),
            "limit_delay": limit,
            "ratio": shipped / limit,
            "old_ratio": old / limit,
            "false_alarms_before_change": sum(r["false_alarm_before_change"] for r in rows),
        }
    return out


# --- B. stationary false alarms ---------------------------------------------------------------


def section_false_alarms(dep: Deployment, events_per_week: int, seed: int) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    total = events_per_week * FA_WEEKS
    labels = rng.choice(SEGMENTS, size=total, p=dep.shares)
    seconds_per_event = WEEK / events_per_week
    counts: Counter[str] = Counter()
    prior = beta_prior(
        (rng.binomial(n, p), n) for n, p in zip(rng.poisson(120, SEGMENTS), dep.gap, strict=True)
    )
    for s in range(SEGMENTS):
        index = np.flatnonzero(labels == s)
        n = len(index)
        times = index * seconds_per_event
        cheap = rng.random(n) < dep.cheap[s]
        # Latency signals watch cheap-routed events only, as the store feeds them.
        cheap_latency = rng.lognormal(dep.latency_mu[s], 0.5, n)[cheap]
        streams = {
            "routing_share": (cheap.astype(float), times),
            "latency": (cheap_latency, times[cheap]),
            "tail_latency": (cheap_latency, times[cheap]),
            "escalation_rate": ((rng.random(n) < dep.escalation[s]).astype(float), times),
            "error_rate": ((rng.random(n) < dep.error[s]).astype(float), times),
            "cost_per_request": (rng.lognormal(dep.cost_mu[s], 0.3, n), times),
        }
        # Answer-defect signals read cheap answers only, as the ingest checks run on them.
        for name in WHERE_FED[: dep.answer_signals]:
            defects = (rng.random(int(cheap.sum())) < DEFECT_RATES[name]).astype(float)
            streams[name] = (defects, times[cheap])
        for name, (values, at) in streams.items():
            state = new_state(name, dep.detectors_for(name))
            for i in range(len(values)):
                if state.feed(float(values[i]), None, 1.0, float(at[i])) is not None:
                    counts[name] += 1
        share = new_state("traffic_share", dep.detectors)
        previous = -1
        for i in range(n):
            for _ in share.feed_gap(int(index[i]), int(index[i]) - previous, float(times[i])):
                counts["traffic_share"] += 1
            previous = int(index[i])
        sampled = cheap & (rng.random(n) < dep.sample_p[s])
        quality = new_state("quality_gap", dep.detectors)
        quality.set_prior(prior)
        wins = rng.random(int(sampled.sum())) < dep.gap[s]
        for value, at in zip(wins, times[sampled], strict=True):
            if quality.feed(float(value), None, 1.0, float(at)) is not None:
                counts["quality_gap"] += 1
    return {"weeks": FA_WEEKS, "events": total, "by_signal": dict(counts)}


# --- report ----------------------------------------------------------------------------------


def run(quick: bool, seed: int, answer_signals: int = 0) -> dict[str, Any]:
    settings = Settings()
    rng = np.random.default_rng(seed)
    dep = deployment(rng, settings, EVENTS_PER_WEEK, answer_signals)
    start = time.perf_counter()
    delay = section_delay(dep, 60 if quick else 200, seed + 1)
    print(f"  small-segment delays ({time.perf_counter() - start:.0f} s)", flush=True)
    start = time.perf_counter()
    # --quick thins the stationary traffic; the budget is per week, so the count stays
    # comparable (each detector's ARL0 follows its own rate).
    fa_dep = (
        dep
        if not quick
        else deployment(np.random.default_rng(seed), settings, 6_000, answer_signals)
    )
    alarms = section_false_alarms(fa_dep, 6_000 if quick else EVENTS_PER_WEEK, seed + 2)
    print(f"  stationary run ({time.perf_counter() - start:.0f} s)", flush=True)
    return {"delay": delay, "false_alarms": alarms, "deployment": dep}


def targets(result: dict[str, Any]) -> list[tuple[str, bool, str]]:
    main = result["delay"][CHANGE_WEEKS]
    alarms = sum(result["false_alarms"]["by_signal"].values())
    return [
        (
            "small segment: mean delay <= 1.5x the known-level CUSUM limit (verdicts)",
            main["ratio"] <= 1.5,
            f"{main['shipped_delay']:.1f} vs {main['limit_delay']:.1f} ({main['ratio']:.2f}x)",
        ),
        (
            f"false alarms in {FA_WEEKS} stationary weeks within [25, 64] (budget {FA_WEEKS})",
            25 <= alarms <= 64,
            f"{alarms} ({alarms / FA_WEEKS:.2f} a week)",
        ),
    ]


def print_report(result: dict[str, Any]) -> None:
    dep: Deployment = result["deployment"]
    print()
    print(
        f"5. Small segments: {SEGMENTS} segments, Zipf volumes, {EVENTS_PER_WEEK:,} events a "
        f"week, D = {dep.detectors} ({dep.answer_signals} answer-defect detectors a segment), "
        f"default 2% budget, power allocation. The {dep.shares[SMALL]:.1%} segment is "
        f"sampled at p = {dep.sample_p[SMALL]:.3f} "
        f"({result['delay'][CHANGE_WEEKS]['verdicts_per_week']:.1f} verdicts a week)."
    )
    print(
        f"   {'change after':<13} {'pre verdicts':>12} {'shipped':>8} {'limit':>7} {'x':>5} "
        f"{'old (warm-up 200)':>18} {'x':>6} {'old cens.':>9} {'FA<chg':>6}"
    )
    for weeks, row in result["delay"].items():
        print(
            f"   {weeks:>2} weeks      {row['pre_verdicts']:>12.0f} {row['shipped_delay']:>8.1f} "
            f"{row['limit_delay']:>7.1f} {row['ratio']:>5.2f} {row['old_delay']:>18.1f} "
            f"{row['old_ratio']:>6.2f} {row['old_censored']:>9} "
            f"{row['false_alarms_before_change']:>6}"
        )
    print(
        "   (delays: mean verdicts after a +0.30 rise until the alarm, over the runs; limit: "
        "exact worst-case delay of a CUSUM knowing both levels at the ARL0 the budget gives "
        "the detector; old: censored runs count the verdicts available, 40 weeks)"
    )
    alarms = result["false_alarms"]
    total = sum(alarms["by_signal"].values())
    print(
        f"   stationary: {alarms['events']:,} events over {alarms['weeks']} weeks, "
        f"{total} false alarms ({total / alarms['weeks']:.2f} a week): "
        + ", ".join(f"{k} {v}" for k, v in sorted(alarms["by_signal"].items()))
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs, thinner traffic")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument(
        "--answer-signals",
        type=int,
        default=0,
        choices=range(len(WHERE_FED) + 1),
        help="answer-defect detectors with inputs per segment (0: a prose deployment)",
    )
    args = parser.parse_args(argv)
    result = run(args.quick, args.seed, args.answer_signals)
    print_report(result)
    checks = targets(result)
    for name, ok, detail in checks:
        print(f"   [{'PASS' if ok else 'FAIL'}] {name}: {detail}")
    return 0 if all(ok for _, ok, _ in checks) else 1


if __name__ == "__main__":
    raise SystemExit(main())
