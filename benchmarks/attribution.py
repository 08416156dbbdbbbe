"""Attribution, threshold what-if and tail latency on synthetic segments with known causes.

1. Attribution: four synthetic segments, each with one known cause of change between two
   weeks (see ``benchmarks/attribution_scenarios.py``): the router's threshold moved (routing
   share up), the cheap model got worse at the same share, the traffic mix moved toward
   requests just under the threshold, and escalations were added to the tail only. For each,
   over 20 seeded runs of 10,000 requests per week judged at the shipped sampling rates
   (10% / 30% of cheap requests), the share of the change attributed to the true cause:
   the Shapley share of expected flagship wins per request for the first three, and for the
   tail the share of the p95 rise explained by the tiers' mix (counterfactual p95). Each share
   is clipped to [0, 1] before averaging, so a noisy overshoot cannot mask a miss. Baseline:
   the same data without router scores, i.e. the two-factor split of (cheap share) x (cheap
   loss rate) that a tool without scores can make. Target: >= 80% for every cause.

2. Threshold what-if: a week of 10,000 requests (win rate 0.05 + 0.4 x score, a 5% noise floor:
   the true excess gap of the requests below t is 0.2 t) with forward pairs at the shipped
   rates and the reverse shadow at its shipped defaults (5% of flagship-routed requests within
   0.1 of the threshold), in two cases: today's threshold too loose (0.5: the right move is
   down) and too strict (0.15: the right move is up, seen only through the reverse shadow).
   The recommended threshold is then applied to 200,000 held-back requests and its realised
   excess gap compared with the target (0.05). Baseline: recommending by the point estimate
   instead of the 90% upper bound. Target: the realised gap stays under the target in >= 90%
   of runs, and the threshold sends at least 25% of the oracle's cheap share (the largest
   share whose true gap is under the target) cheap on average: a floor, since certifying the
   gap at a week's volume of pairs costs share (the 95% two-sided interval reached ~10%).
3. Tail latency: a stream whose slow requests go from 1% to 6% after 3,000 requests (a cascade
   escalating more: the mean latency moves ~13%, the p95 much more). Delay (post-change
   requests to the first alarm) of the tail_latency detector against the latency signal's
   mean CUSUM on log latency, both at the ARL0 the shipped false-alarm budget gives 50
   segments whose detectors see 10,000 samples a week. Target: the tail detector catches
   >= 95% of runs, at most half the mean CUSUM's mean delay (a miss counts as the horizon).

The point estimates do not depend on the bootstrap, so the shares run without resamples (the
intervals are exercised by the tests); everything else is at the shipped defaults.

Usage: python benchmarks/attribution.py [--runs N] [--events N] [--seed N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.attribution_scenarios import (  # noqa: E402
    BASE,
    SCENARIOS,
    generate,
    noise_pairs,
    reverse_pairs,
    win_probability,
)
from shadowgap.attribution.decomposition import decompose  # noqa: E402
from shadowgap.attribution.latency import attribute_latency  # noqa: E402
from shadowgap.attribution.thresholds import (  # noqa: E402
    SEARCH_STEP,
    JudgedPairs,
    recommend,
    threshold_table,
)
from shadowgap.config import Settings  # noqa: E402
from shadowgap.drift import SIGNALS, build_detector  # noqa: E402
from shadowgap.drift.budget import arl0_for_rate  # noqa: E402
from shadowgap.drift.signals import EVERY_SEGMENT  # noqa: E402
from shadowgap.stats.excess_gap import WeightedSums  # noqa: E402

TARGET_SHARE = 0.80


def _clip(value: float | None) -> float:
    return 0.0 if value is None else min(1.0, max(0.0, value))


def attribution_shares(runs: int, events: int, seed: int) -> bool:
    print(
        f"1. Share of the change attributed to the true cause ({runs} runs x {events:,} "
        "requests per week)"
    )
    print(
        f"   {'cause':<18}{'true factor':<16}{'mean':>7}{'median':>8}{'min':>7}"
        f"{'baseline':>10}{'target':>8}  result"
    )
    ok = True
    for index, (name, (factor, after)) in enumerate(SCENARIOS.items()):
        rng = np.random.default_rng(seed + 1000 * index)
        shares, baseline = [], []
        for _ in range(runs):
            before, later = generate(BASE, events, rng), generate(after, events, rng)
            if factor == "escalations":
                shares.append(_clip(attribute_latency(before, later).mix_share))
                baseline.append(float("nan"))
                continue
            shares.append(_clip(decompose(before, later, n_resamples=0).shares()[factor]))
            unscored = decompose(
                replace(before, score=np.full(events, np.nan)),
                replace(later, score=np.full(events, np.nan)),
                n_resamples=0,
            ).shares()
            # Without scores the mix is inside "the cheap path on this traffic".
            baseline.append(
                _clip(
                    unscored.get(factor, unscored.get("cheap_path", 0.0))
                    if factor != "traffic_mix"
                    else 0.0
                )
            )
        mean = statistics.fmean(shares)
        passed = mean >= TARGET_SHARE
        ok &= passed
        base = statistics.fmean(baseline) if factor != "escalations" else None
        print(
            f"   {name:<18}{factor:<16}{mean:>7.1%}{statistics.median(shares):>8.1%}"
            f"{min(shares):>7.1%}{'n/a' if base is None else f'{base:.1%}':>10}"
            f"{TARGET_SHARE:>8.0%}  {'PASS' if passed else 'FAIL'}"
        )
    print("   baseline: no router scores (router share x cheap loss rate; mix not separable)")
    return ok


NOISE_RATE = 0.05
HELD_BACK = 200_000
TAIL_HORIZON = 30_000
# The deployment the tail detectors' ARL0 is budgeted for: 50 segments, each detector seeing
# 10,000 samples a week.
SEGMENTS = 50
SAMPLES_PER_WEEK = 10_000.0


def _judged(period, reverse) -> JudgedPairs:  # type: ignore[no-untyped-def]
    judged = period.verdict_weight > 0
    return JudgedPairs(
        np.concatenate([period.score[judged], reverse[0]]),
        np.concatenate([period.flagship_won[judged], reverse[1]]),
        np.concatenate([period.verdict_weight[judged], reverse[2]]),
        np.concatenate([np.zeros(int(judged.sum()), bool), np.ones(reverse[0].size, bool)]),
    )


def _noise(rng: np.random.Generator, n: int) -> WeightedSums:
    won = noise_pairs(n, rng, NOISE_RATE)
    size, ones = float(won.size), float(won.sum())
    return WeightedSums(won.size, size, ones, size, ones)


def threshold_recommendation(runs: int, events: int, seed: int) -> bool:
    settings = Settings()
    target = settings.target_excess_gap
    print(
        f"\n2. Threshold recommendation: realised excess gap on {HELD_BACK:,} held-back "
        f"requests (target {target:.0%}, {runs} runs)"
    )
    print(
        f"   {'today':<24}{'rule':<14}{'threshold':>10}{'cheap':>8}{'realised':>10}"
        f"{'<= target':>11}  result"
    )
    ok = True
    for case, today in (("too loose (t = 0.5)", 0.5), ("too strict (t = 0.15)", 0.15)):
        params = replace(BASE, threshold=today)
        rng = np.random.default_rng(seed)
        results: dict[str, list[tuple[float, float, float]]] = {"90% bound": [], "point": []}
        for _ in range(runs):
            week = generate(params, events, rng)
            reverse = reverse_pairs(
                week, rng, params, settings.reverse_shadow_band, settings.reverse_shadow_rate
            )
            # Noise pairs: the shipped noise_floor_fraction of the judged requests.
            n_noise = max(1, int(settings.noise_floor_fraction * week.judged))
            rows = threshold_table(
                week, _judged(week, reverse), _noise(rng, n_noise), WeightedSums(), step=SEARCH_STEP
            )
            held = rng.uniform(0.0, 1.0, HELD_BACK)
            point_rows = [
                r
                for r in rows
                if r.covered and r.gap and r.gap.excess is not None and r.gap.excess < target
            ]
            picks = {
                "90% bound": recommend(rows, target),
                "point": max(point_rows, key=lambda r: r.cheap_share) if point_rows else None,
            }
            for rule, pick in picks.items():
                t = pick.threshold if pick else 0.0
                below = held < t
                realised = (
                    float(win_probability(held[below]).mean()) - NOISE_RATE if below.any() else 0.0
                )
                results[rule].append((t, float(below.mean()), realised))
        oracle = target / 0.2
        for rule, values in results.items():
            under = sum(r <= target for _, _, r in values) / len(values)
            share = statistics.fmean(v[1] for v in values)
            passed = under >= 0.9 and share >= 0.25 * oracle
            if rule == "90% bound":
                ok &= passed
            print(
                f"   {case:<24}{rule:<14}{statistics.fmean(v[0] for v in values):>10.3f}"
                f"{share:>8.1%}"
                f"{statistics.fmean(v[2] for v in values):>10.2%}{under:>11.0%}  "
                f"{('PASS' if passed else 'FAIL') if rule == '90% bound' else 'baseline'}"
            )
    print(f"   oracle: the true limit is t = {target / 0.2:.2f} (cheap share {target / 0.2:.0%})")
    return ok


def _delay(detector, stream: list[float], change: int) -> int | None:  # type: ignore[no-untyped-def]
    for i, x in enumerate(stream):
        if detector.update(x).drift_detected:
            return i - change + 1 if i >= change else -1
    return None


def tail_detector(runs: int, seed: int) -> bool:
    settings = Settings()
    change = 3000
    print(
        f"\n3. Tail-only change (slow requests 1% -> 6% after {change:,}): detection delay, "
        f"{runs} runs, horizon {TAIL_HORIZON:,}"
    )
    rng = np.random.default_rng(seed)
    delays: dict[str, list[int | None]] = {"tail_latency": [], "latency": []}
    false_alarms = dict.fromkeys(delays, 0)
    for _ in range(runs):
        n = change + TAIL_HORIZON
        slow = rng.random(n) < np.where(np.arange(n) < change, 0.01, 0.06)
        stream = list(rng.lognormal(6.9, 0.3, n) + slow * 2500.0)
        for name in delays:
            spec = SIGNALS[name]
            arl0 = arl0_for_rate(
                settings.false_alarms_per_week, SEGMENTS * len(EVERY_SEGMENT), SAMPLES_PER_WEEK
            )
            detector = build_detector(spec.detector, spec.params, arl0=arl0)
            delay = _delay(detector, stream, change)
            if delay == -1:
                false_alarms[name] += 1
                delay = None
            delays[name].append(delay)
    means = {}
    for name, values in delays.items():
        caught = [d for d in values if d is not None]
        means[name] = statistics.fmean(d if d is not None else TAIL_HORIZON for d in values)
        print(
            f"   {name:<14} caught {len(caught) / runs:>5.0%}  mean delay {means[name]:>8,.0f}"
            f"  median {statistics.median(caught) if caught else float('nan'):>8,.0f}"
            f"  false alarms before the change {false_alarms[name]}"
        )
    caught_share = sum(d is not None for d in delays["tail_latency"]) / runs
    ratio = means["tail_latency"] / means["latency"]
    passed = caught_share >= 0.95 and ratio <= 0.5
    print(
        f"   tail / mean-CUSUM delay ratio {ratio:.2f} (target <= 0.50)  "
        f"{'PASS' if passed else 'FAIL'}"
    )
    return passed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    started = time.perf_counter()
    results = {
        "attribution": attribution_shares(args.runs, args.events, args.seed),
        "thresholds": threshold_recommendation(args.runs, args.events, args.seed),
        "tail_latency": tail_detector(args.runs, args.seed),
    }
    print(f"\n{time.perf_counter() - started:.1f} s")
    for name, passed in results.items():
        print(f"{name}: {'PASS' if passed else 'FAIL'}")
    overall = all(results.values())
    print("PASS" if overall else "FAIL")
    return 0 if overall else 1


if __name__ == "__main__":
    sys.exit(main())
