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

from benchmarks.attribution_scenarios import BASE, SCENARIOS, generate  # noqa: E402
from service.attribution.decomposition import decompose  # noqa: E402
from service.attribution.latency import attribute_latency  # noqa: E402

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
                shares.append(_clip(attribute_latency(before, later, n_resamples=0).mix_share))
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    started = time.perf_counter()
    results = {"attribution": attribution_shares(args.runs, args.events, args.seed)}
    print(f"\n{time.perf_counter() - started:.1f} s")
    for name, passed in results.items():
        print(f"{name}: {'PASS' if passed else 'FAIL'}")
    overall = all(results.values())
    print("PASS" if overall else "FAIL")
    return 0 if overall else 1


if __name__ == "__main__":
    sys.exit(main())
