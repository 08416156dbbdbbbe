"""Quality SLO burn-rate alerts on a small segment: detection, false alarms, one alert a problem.

The segment is the 2% segment of ``benchmarks/small_segments.py``'s deployment (20 segments,
1 false alarm a week in all): 30 judged 'gap' pairs a week at the default sampling budget, the
noise floor borrowed from the deployment's noise pairs (200 a week at a flagship-vs-flagship
win rate of 0.10), its objective the shipped default (``SHADOWGAP_SLO_OBJECTIVE``). Pairs
arrive as a Poisson stream; every ``SHADOWGAP_SLO_LOOK_HOURS`` the shipped rules
(:mod:`shadowgap.slo.rules`, the same functions the ``slo.evaluate`` job calls) look at the
windows ending then, with the segment's share of the false-alarm budget
(``shadowgap.slo.rules.share_per_week``: two detectors' shares of 20 x 10.5), and an alert opens
when a pair fires and resolves when :func:`shadowgap.slo.rules.recovered` says so at
``RECOVERY_LOOKS`` looks in a row.

A. **Regression.** Six weeks at half the objective (burn 0.5), then the excess rate doubles
   the objective (burn 2.0) for eight weeks. Target: in >= 90% of runs an alert opens within
   one slow window (the slow pair's long window, in days) of the change.
B. **False alarms.** 50 weeks at half the objective. Target: the mean number of alerts per
   segment is at most its share of the budget over 50 weeks (``50 * F * 2 / (20 * 10.5)``).
   The same at the objective itself (burn 1.0) is printed without a target.
C. **One alert per problem.** In A, every run opens at most one alert from the change to the
   end (not one per window, not one per look). Target: all runs.

D-F run the error-rate SLO's rules (:mod:`shadowgap.slo.request_rules`; the latency SLO's are
the same functions on its own counts) on a 1,000-requests-a-day segment, looking every 5
minutes, with its share (a quarter detector's of 20 x 10.5): D, 50 weeks at half the allowed
error rate raise no more alerts than that share; E, a burn from 0.5x to 2x alerts within the
budget pair's 3-day window in >= 90% of runs; F, one alert per problem in E.

A's delay is measured to the alert that is still open at the end of the run (the regression's):
how long after the change it has been open. A false alarm that opened before the change and is
still open when the burn starts carries it (delay 0); those runs are counted and printed.

Figures are counts and days on the traffic's own clock (no timing). Usage:
python benchmarks/loop_slo.py [--quick] [--seed N]   (exit 1 when a target fails)
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shadowgap.config import Settings  # noqa: E402
from shadowgap.drift.signals import REQUEST_SLO_SHARE  # noqa: E402
from shadowgap.slo.request_rules import (  # noqa: E402
    MIN_REQUESTS,
    REQUEST_PAIRS,
    request_window_lengths,
)
from shadowgap.slo.request_rules import RECOVERY_LOOKS as REQUEST_RECOVERY_LOOKS  # noqa: E402
from shadowgap.slo.request_rules import look as request_look  # noqa: E402
from shadowgap.slo.request_rules import recovered as request_recovered  # noqa: E402
from shadowgap.slo.rules import (  # noqa: E402
    PAIRS,
    RECOVERY_LOOKS,
    WindowPairs,
    look,
    pair_alpha,
    recovered,
    share_per_week,
    window_lengths,
)
from shadowgap.stats.excess_gap import WeightedSums  # noqa: E402
from shadowgap.stats.slo import burn, count_burn, critical_z  # noqa: E402

SEGMENTS = 20
PAIRS_PER_WEEK = 30.0
NOISE_PAIRS_PER_WEEK = 200.0
NOISE_RATE = 0.10


@dataclass
class Stream:
    """Arrival days and outcomes (1: the flagship won) of one verdict stream, with prefix sums."""

    days: np.ndarray
    wins: np.ndarray

    @classmethod
    def draw(cls, rng: np.random.Generator, per_week: float, weeks: float, rate_at) -> Stream:  # type: ignore[no-untyped-def]
        n = rng.poisson(per_week * weeks)
        days = np.sort(rng.uniform(0.0, weeks * 7.0, n))
        wins = (rng.uniform(size=n) < rate_at(days)).astype(np.int64)
        return cls(days, np.concatenate(([0], np.cumsum(wins))))

    def sums(self, start: float, end: float) -> WeightedSums:
        """Equal weights (uniform sampling in the segment): the Hajek rate is the plain one."""
        lo, hi = np.searchsorted(self.days, [start, end])
        n, y = int(hi - lo), float(self.wins[hi] - self.wins[lo])
        return WeightedSums(n, float(n), y, float(n), y)


def run(
    rng: np.random.Generator,
    objective: float,
    weeks: float,
    burn_at,  # type: ignore[no-untyped-def]
    look_days: float,
    share: float,
    window_days: float,
) -> list[tuple[float, float]]:
    """The alerts of one run: (day opened, day resolved or infinity)."""
    gap = Stream.draw(rng, PAIRS_PER_WEEK, weeks, lambda d: NOISE_RATE + objective * burn_at(d))
    noise = Stream.draw(rng, NOISE_PAIRS_PER_WEEK, weeks, lambda d: np.full(d.shape, NOISE_RATE))
    alerts: list[tuple[float, float]] = []
    is_open, streak = False, 0
    t = look_days
    while t <= weeks * 7.0:
        windows = {
            days: WindowPairs(gap.sums(t - days, t), WeightedSums(), noise.sums(t - days, t))
            for days in window_lengths(window_days)
        }
        outcomes = look(windows, objective, share, 7.0 / look_days)
        if not is_open and any(o.fires for o in outcomes):
            alerts.append((t, math.inf))
            is_open, streak = True, 0
        elif is_open:
            whole = windows[window_days]
            window = burn(whole.gap, whole.noise, whole.global_noise, objective)
            streak = streak + 1 if recovered(outcomes, window) else 0
            if streak >= RECOVERY_LOOKS:
                alerts[-1] = (alerts[-1][0], t)
                is_open = False
        t += look_days
    return alerts


# The latency / error-rate rows: a low-traffic segment (the case the guard is for), looks
# every 5 minutes, the error objective at its default. Requests arrive per 5-minute bucket.
REQUESTS_PER_DAY = 1000.0
BUCKETS_PER_DAY = 288


def request_run(
    rng: np.random.Generator,
    weeks: float,
    bad_rate: Callable[[np.ndarray], np.ndarray],
    allowed: float,
    share: float,
) -> list[tuple[float, float]]:
    """One segment's latency or error-rate SLO alerts ``(opened, resolved)`` in days, looking
    after every 5-minute bucket with the shipped rules. A look where no pair's long window
    holds enough requests at or above its threshold cannot fire, so while no alert is open
    only the other looks call the rules (the outcome is the same, the run 100x faster)."""
    buckets = int(weeks * 7 * BUCKETS_PER_DAY)
    days = np.arange(buckets) / BUCKETS_PER_DAY
    n = rng.poisson(REQUESTS_PER_DAY / BUCKETS_PER_DAY, buckets)
    bad = rng.binomial(n, np.minimum(1.0, bad_rate(days) * allowed))
    cn, cb = np.concatenate([[0], np.cumsum(n)]), np.concatenate([[0], np.cumsum(bad)])
    ends = np.arange(1, buckets + 1)

    def counts(length: float) -> tuple[np.ndarray, np.ndarray]:
        starts = np.maximum(0, ends - round(length * BUCKETS_PER_DAY))
        return cn[ends] - cn[starts], cb[ends] - cb[starts]

    windows = {length: counts(length) for length in request_window_lengths()}
    candidate = np.zeros(buckets, dtype=bool)
    for pair in REQUEST_PAIRS:
        total, spoilt = windows[pair.long_days]
        candidate |= (total >= MIN_REQUESTS) & (spoilt >= pair.threshold * allowed * total)
    looks_per_week = 7.0 * BUCKETS_PER_DAY
    alerts: list[tuple[float, float]] = []
    is_open, streak = False, 0
    for i in range(buckets):
        if not is_open and not candidate[i]:
            continue
        at = {
            length: count_burn(allowed, int(windows[length][1][i]), int(windows[length][0][i]))
            for length in windows
        }
        outcomes = request_look(at, share, looks_per_week)
        if any(o.fires for o in outcomes):
            streak = 0
            if not is_open:
                alerts.append((float(days[i]), math.inf))
                is_open = True
        elif is_open:
            streak = streak + 1 if request_recovered(outcomes) else 0
            if streak >= REQUEST_RECOVERY_LOOKS:
                alerts[-1] = (alerts[-1][0], float(days[i]))
                is_open = False
    return alerts


def request_rows(settings: Settings, rng: np.random.Generator, quick: bool) -> bool:
    """Rows D-F: the error-rate SLO (the latency SLO runs the same rules on its own counts)
    of a 1,000-requests-a-day segment."""
    allowed = settings.slo_error_objective
    share = share_per_week(settings.false_alarms_per_week, SEGMENTS, 0, REQUEST_SLO_SHARE)
    runs = 40 if quick else 200
    print(
        f"request SLOs: {REQUESTS_PER_DAY:.0f} requests/day, {allowed:.0%} allowed bad, looks "
        f"every 5 min; share {share:.5f} alarms/week (a quarter detector's of 20 x 10.5)"
    )
    budget_50 = 50.0 * share
    counts = [
        len(request_run(rng, 50.0, lambda d: np.full(d.shape, 0.5), allowed, share))
        for _ in range(runs)
    ]
    mean_alerts = float(np.mean(counts))
    ok_d = mean_alerts <= budget_50
    print(
        f"D request SLO stationary at 0.5x, 50 weeks: {mean_alerts:.3f} alerts per segment over "
        f"{runs} runs (share of the budget {budget_50:.3f}): {'PASS' if ok_d else 'FAIL'}"
    )
    change = 7.0
    budget_pair = max(REQUEST_PAIRS, key=lambda p: p.long_days)
    delays, multiple = [], 0
    for _ in range(runs):
        alerts = request_run(rng, 3.0, lambda d: np.where(d < change, 0.5, 2.0), allowed, share)
        after = [opened - change for opened, _ in alerts if opened >= change]
        multiple += len(after) > 1
        if after:
            delays.append(after[0])
    within = sum(1 for d in delays if d <= budget_pair.long_days) / runs
    ok_e = within >= 0.90
    median = float(np.median(delays)) if delays else float("nan")
    print(
        f"E request SLO 0.5x -> 2.0x: alerted within the budget pair's long window "
        f"({budget_pair.long_days:g} d) in {within:.1%} of {runs} runs (target >= 90%): "
        f"{'PASS' if ok_e else 'FAIL'}; median delay {median * 24:.1f} h"
    )
    ok_f = multiple == 0
    print(
        f"F request SLO one alert per problem: {multiple} of {runs} runs raised more than one "
        f"alert after the change (target 0): {'PASS' if ok_f else 'FAIL'}"
    )
    return ok_d and ok_e and ok_f


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    settings = Settings()
    objective = settings.slo_objective
    look_days = settings.slo_look_hours / 24.0
    share = share_per_week(settings.false_alarms_per_week, SEGMENTS, 0)
    # The slowest pair's long window: the only one a segment this small can look at.
    slow = max(PAIRS, key=lambda p: p.long_days)
    alpha = pair_alpha(slow, share, 7.0 / look_days, looking=1)
    runs_a = 60 if args.quick else 300
    runs_b = 100 if args.quick else 500
    rng = np.random.default_rng(args.seed)
    print(
        f"segment: {PAIRS_PER_WEEK:.0f} judged pairs/week, objective {objective}, noise floor "
        f"{NOISE_RATE}; deployment {SEGMENTS} segments, F={settings.false_alarms_per_week}/week; "
        f"share {share:.5f} alarms/week; looks every {look_days:g} d; level of the "
        f"{slow.name} pair's look {alpha:.2e} (z {critical_z(alpha):.2f}, the only pair looking)"
    )
    for pair in PAIRS:
        print(
            f"pair {pair.name}: long {pair.long_days:g} d, short {pair.short_days:g} d, burn "
            f">= {pair.threshold:g}x ({pair.budget_spent(settings.slo_window_days):.0%} of the "
            f"{settings.slo_window_days:g}-day budget), {pair.severity}"
        )

    change = 42.0
    delays: list[float] = []
    multiple = 0
    early = 0
    carried = 0
    for _ in range(runs_a):
        alerts = run(
            rng,
            objective,
            change / 7.0 + 8.0,
            lambda d: np.where(d < change, 0.5, 2.0),
            look_days,
            share,
            settings.slo_window_days,
        )
        after = [opened - change for opened, _ in alerts if opened >= change]
        early += sum(1 for opened, _ in alerts if opened < change)
        multiple += len(after) > 1
        # The regression's alert is the one still open at the end: its delay is how long after
        # the change it has been open. A false alarm still open when the burn starts carries
        # the problem (the same alert, its evidence updated each look): delay 0, counted apart.
        last = alerts[-1] if alerts else None
        if last is not None and last[1] == math.inf:
            carried += last[0] < change
            delays.append(max(0.0, last[0] - change))
    within = sum(1 for d in delays if d <= slow.long_days) / runs_a
    median = float(np.median(delays)) if delays else float("nan")
    ok_a = within >= 0.90
    print(
        f"A regression 0.5x -> 2.0x: alerted within one slow window ({slow.long_days:g} d) in "
        f"{within:.1%} of {runs_a} runs (target >= 90%): {'PASS' if ok_a else 'FAIL'}; median "
        f"delay {median:.1f} d; alerted at all in {len(delays) / runs_a:.1%}; false alarms before "
        f"the change {early}; the regression carried by one of them (delay 0) in {carried} runs"
    )

    budget_50 = 50.0 * share
    counts = [
        len(
            run(
                rng,
                objective,
                50.0,
                lambda d: np.full(d.shape, 0.5),
                look_days,
                share,
                settings.slo_window_days,
            )
        )
        for _ in range(runs_b)
    ]
    mean_alerts = float(np.mean(counts))
    ok_b = mean_alerts <= budget_50
    print(
        f"B stationary at 0.5x, 50 weeks: {mean_alerts:.3f} alerts per segment over {runs_b} "
        f"runs (share of the budget {budget_50:.3f}): {'PASS' if ok_b else 'FAIL'}"
    )
    at_objective = [
        len(
            run(
                rng,
                objective,
                50.0,
                lambda d: np.full(d.shape, 1.0),
                look_days,
                share,
                settings.slo_window_days,
            )
        )
        for _ in range(runs_b // 2)
    ]
    print(
        f"  (no target) stationary at 1.0x, 50 weeks: {float(np.mean(at_objective)):.3f} alerts "
        "per segment"
    )

    ok_c = multiple == 0
    print(
        f"C one alert per problem: {multiple} of {runs_a} regression runs raised more than one "
        f"alert after the change (target 0): {'PASS' if ok_c else 'FAIL'}"
    )
    ok_requests = request_rows(settings, rng, args.quick)
    return 0 if ok_a and ok_b and ok_c and ok_requests else 1


if __name__ == "__main__":
    sys.exit(main())
