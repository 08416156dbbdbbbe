"""Finding an undeclared regressed slice at the default budget, with adaptive sampling toward
candidate slices (issue 23; ``shadowgap/slices/exploration.py``).

Simulated deployment at the held-out traffic's volume: ``--events-per-week`` requests (default
30,000), 60% routed cheap, 8 tenants (the declared segments, volumes 30% .. 3%) with the
feature vocabulary of ``benchmarks/slices.py`` (teams, API keys with scripted service keys,
users, templates, system prompts, models, regions, plans, tags, lengths, scripts, cadence).
Day by day, every cheap request is sampled as the service samples it: the base design is
``plan_allocation`` (the shipped power allocation) over the tenants at
``(1 - exploration share) x 2%`` of all traffic, and a request matching a watched slice gets an
independent exploration draw (``decide_explored``'s rule, p = 1 - (1 - p_base)(1 - p_explore)).
A condition on ``cadence`` is watched and matched like the others: the service records the
class of the request's user from its past traffic at ingest (``shadowgap/slices/cadence.py``),
and a simulated user's class is constant, so the recorded class is the row's own.
Each sampled request gets a judged pair with Hajek weight 1/p (20% also a noise verdict at
0.08). Once a day (the service runs hourly: daily is the slower case) the exploration cycle
runs on the last 7 days: review watched slices on their post-nomination pairs, nominate (a
stronger suggestion takes the place of a watch whose evidence faded, ``slice_preempt_margin``),
set boosts.

1. **Plantings** (default 40): a flagship-win base of 0.15-0.25; from a random day 7-14, +0.25
   in a random undeclared conjunction (1-3 conditions, not a tenant alone) holding
   ``--share-low``-``--share-high`` of traffic (default 1%-5%). Measured: days from the change to
   a confirmed watched slice of which >= 50% of requests are in the planted one (a hit), the
   share of plantings confirmed within 14 and 28 days.
2. **Oracle**, same plantings and seeds: the true slice is watched from the moment of its change
   with the same exploration share (no nomination). Target: median time to confirmation
   <= 1.5x the oracle's.
3. **Stationary weeks** (default 52, after a week of warm-up per stream of 13 weeks): every
   confirmation is a false slice alert. Target: <= 0.2 a week, Poisson one-sided 95% upper
   bound.
4. **Declared segments' delay**, simulated: every tenant's quality detector (the service's
   one-sided Bernoulli GLR, window 500, a pooled Beta(4, 16) prior, its threshold from the
   detectors' part of the false-alarm budget at its own rate of verdicts) fed the base design's
   judged pairs only, ``--detector-reps`` changes of +min_detectable_effect over 0.2 per tenant
   after 14 days, at the whole budget and at (1 - share) of it (the same arrivals thinned): the
   worst case, slices under watch all the time (the share of stationary days with a watch is
   printed). Target: mean delay <= 15% worse. The planned figure (``plan_allocation``'s model,
   what the sampler plans with) is printed beside it.
5. ``--baseline``: the plantings again with no exploration (share 0), for "today".

Usage: python benchmarks/slices_exploration.py [--plantings N] [--seed N] [--share X]
       [--null-weeks N] [--baseline] [--quick] [--verbose]
       (tuning only: --max-watched, --nominate-min-pairs, --nominate-p, --futility-z,
       --max-nominations, --preempt-margin; negative margin: no preemption)
Exits non-zero when any target fails.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scipy import stats  # noqa: E402

from benchmarks.slices import (  # noqa: E402
    NOISE_FRACTION,
    NOISE_RATE,
    PLANT_EFFECT,
    TENANT_SHARES,
    draw_features,
    make_universe,
)
from shadowgap.config import Settings  # noqa: E402
from shadowgap.drift.budget import arl0_for_rate, detector_alarms_per_week  # noqa: E402
from shadowgap.drift.glr import BernoulliGLR  # noqa: E402
from shadowgap.drift.signals import EVERY_SEGMENT  # noqa: E402
from shadowgap.shadow.sampling import plan_allocation  # noqa: E402
from shadowgap.slices import exploration as ex  # noqa: E402
from shadowgap.slices.lattice import PairTable, SearchParams, build_table, members_of  # noqa: E402

CHEAP_SHARE = 0.6
WINDOW_DAYS = 7
POOL = 60_000
EPOCH = datetime(2026, 1, 5, tzinfo=UTC)
PREEMPT_MARGIN: dict[str, float | None] = {}  # tuning override (--preempt-margin)
TARGET_14, TARGET_28, TARGET_ORACLE, TARGET_FALSE, TARGET_DELAY = 0.80, 0.95, 1.5, 0.2, 0.15


@dataclass
class World:
    """One universe's traffic pool (requests drawn from it with replacement) and its sampler."""

    rows: list[dict[str, object]]
    tenant: np.ndarray  # tenant index of each pool row
    table: PairTable  # the pool encoded, for slice membership
    cheap_per_day: float
    events_per_week: float
    members: dict[str, np.ndarray] = field(default_factory=dict)

    def member(self, conditions: list[tuple[str, str]]) -> np.ndarray:
        key = "&".join(f"{f}={v}" for f, v in sorted(conditions))
        if key not in self.members:
            self.members[key] = members_of(self.table, conditions)
        return self.members[key]


def make_world(seed: int, events_per_week: float) -> World:
    universe = make_universe(np.random.default_rng(seed))
    universe.pair_shares = TENANT_SHARES / TENANT_SHARES.sum()  # traffic, not pairs
    rows, _ = draw_features(universe, POOL)
    tenant = np.asarray([int(str(r["tenant"]).split("-")[1]) for r in rows])
    ids = [f"p{i}" for i in range(POOL)]
    table = build_table(ids, np.zeros(POOL), np.ones(POOL), [None] * POOL, rows)  # type: ignore[arg-type]
    return World(rows, tenant, table, events_per_week * CHEAP_SHARE / 7.0, events_per_week)


def base_probabilities(world: World, share: float, exploring: bool) -> tuple[np.ndarray, float]:
    """Per-tenant inclusion probability of the base design (at (1 - share) of the budget while
    slices are under watch, all of it otherwise, as the service), and the tenants' mean
    planned detection days."""
    settings = Settings(slice_exploration_share=share)
    cheap_week = {t: float(s) * world.cheap_per_day * 7 for t, s in enumerate(TENANT_SHARES)}
    plans = plan_allocation(cheap_week, world.events_per_week, settings, exploring=exploring)
    probabilities = np.asarray([plans[t].probability for t in range(len(TENANT_SHARES))])
    return probabilities, float(np.mean([plans[t].detection_days for t in plans]))


# Simulated quality detectors of the declared segments (item 4 of the doc).
DETECTOR_BASE_RATE = 0.2  # flagship-win rate before the change
DETECTOR_PRIOR = (4.0, 16.0)  # a pooled Beta prior like the service's (mean 0.2, 20 pseudo-pairs)
DETECTOR_WARMUP_DAYS = 14.0
DETECTOR_HORIZON_DAYS = 90.0  # a change not caught by then counts as caught then


def simulated_detection_days(
    world: World, share: float, reps: int, seed: int
) -> tuple[float, float, int]:
    """Mean days from a +min_detectable_effect rise in one tenant's flagship-win rate to its
    quality detector's alarm (the service's one-sided Bernoulli GLR with a pooled prior, at the
    threshold the detectors' part of the false-alarm budget gives), fed the base design's judged
    pairs only: at the whole budget, and at (1 - share) of it while slices are watched (the same
    arrivals thinned, so both arms see the same random numbers). Every tenant, ``reps`` changes
    each. Returns both means and how many changes were not caught within the horizon (counted
    at the horizon)."""
    settings = Settings(slice_exploration_share=share)
    cheap_week = {t: float(s) * world.cheap_per_day * 7 for t, s in enumerate(TENANT_SHARES)}
    full = plan_allocation(cheap_week, world.events_per_week, settings, exploring=False)
    reduced = plan_allocation(cheap_week, world.events_per_week, settings, exploring=True)
    budget = detector_alarms_per_week(
        settings.false_alarms_per_week, settings.slice_false_alarm_share
    )
    detectors = len(TENANT_SHARES) * len(EVERY_SEGMENT)
    p1 = DETECTOR_BASE_RATE + settings.min_detectable_effect
    span = DETECTOR_WARMUP_DAYS + DETECTOR_HORIZON_DAYS
    delays: dict[bool, list[float]] = {False: [], True: []}
    missed = 0
    for tenant, week in cheap_week.items():
        per_day = full[tenant].probability * week / 7.0
        kept = reduced[tenant].probability / full[tenant].probability
        for rep in range(reps):
            rng = np.random.default_rng([seed, tenant, rep])
            n = int(rng.poisson(per_day * span))
            times = np.sort(rng.uniform(0.0, span, n))
            wins = rng.random(n) < np.where(times >= DETECTOR_WARMUP_DAYS, p1, DETECTOR_BASE_RATE)
            thinned = rng.random(n) < kept
            for exploring, mask in ((False, np.ones(n, dtype=bool)), (True, thinned)):
                delay = _glr_delay(times[mask], wins[mask], budget, detectors, per_day, kept)
                missed += delay >= DETECTOR_HORIZON_DAYS
                delays[exploring].append(delay)
    return float(np.mean(delays[False])), float(np.mean(delays[True])), missed


def _glr_delay(
    times: np.ndarray,
    wins: np.ndarray,
    budget: float,
    detectors: int,
    per_day: float,
    kept: float,
) -> float:
    """Days from the change to the first alarm after it (an alarm before it restarts)."""
    arl0 = arl0_for_rate(budget, detectors, max(per_day * kept * 7.0, 1.0))
    glr = BernoulliGLR(side="up", arl0=arl0, window=500, prior=DETECTOR_PRIOR)
    for t, won in zip(times, wins, strict=True):
        if glr.update(bool(won)).drift_detected:
            if t >= DETECTOR_WARMUP_DAYS:
                return float(t - DETECTOR_WARMUP_DAYS)
            glr = BernoulliGLR(side="up", arl0=arl0, window=500, prior=DETECTOR_PRIOR)
    return DETECTOR_HORIZON_DAYS


def pick_planting(
    world: World, rng: np.random.Generator, low: float, high: float
) -> list[tuple[str, str]]:
    while True:
        row = world.rows[int(rng.integers(0, POOL))]
        k = int(rng.integers(1, 4))
        names = [str(n) for n in rng.choice(sorted(row), size=k, replace=False)]
        if names == ["tenant"]:
            continue  # a declared segment, not an undeclared slice
        conditions = []
        for name in names:
            value = row[name]
            conditions.append((name, str(value[0] if isinstance(value, list) else value)))
        members = world.member(conditions)
        if not low <= members.mean() <= high:
            continue
        if k > 1 and any(
            world.member(conditions[:i] + conditions[i + 1 :]).sum() <= members.sum()
            for i in range(k)
        ):
            continue
        return conditions


@dataclass
class Run:
    confirmed_day: float | None = None  # days after the change (hit)
    false_alerts: int = 0
    other: int = 0  # confirmations that overlap the planting without being mostly inside it
    nominated: int = 0
    true_nominated: float | None = None  # days after the change the planting was nominated
    explored: int = 0  # pairs taken by the exploration draw only
    exploring_days: int = 0  # days with a slice under watch (the base design at 1 - share)
    sampled: int = 0
    fates: list[str] = field(default_factory=list)  # how watches of the planted slice ended


def simulate(
    world: World,
    seed: int,
    share: float,
    days: int,
    planted: list[tuple[str, str]] | None,
    change_day: float,
    base_rate: float,
    oracle: bool = False,
    confirm_alpha: float | None = None,
) -> Run:
    rng = np.random.default_rng(seed)
    settings = Settings()
    alpha = confirm_alpha if confirm_alpha is not None else ex.confirm_alpha(settings)
    preempt_margin = PREEMPT_MARGIN.get("value", settings.slice_preempt_margin)
    p_full, _ = base_probabilities(world, share, exploring=False)
    p_reduced, _ = base_probabilities(world, share, exploring=True)
    per_day = settings.sampling_budget_fraction * world.events_per_week / 7.0
    exploration_per_day = share * per_day
    params = SearchParams(max_conditions=settings.slice_max_conditions, beam=settings.slice_beam)
    planted_members = world.member(planted) if planted else np.zeros(POOL, dtype=bool)
    watched: list[ex.Watched] = []
    cleared: dict[str, datetime] = {}
    alerted: set[str] = set()
    idx_l, t_l, w_l, y_l, noise_l = [], [], [], [], []
    run = Run()
    for day in range(days):
        if (
            oracle
            and planted
            and day >= math.floor(change_day)
            and not any(w.status == ex.WatchStatus.WATCHING for w in watched)
        ):
            # The oracle watches the true slice from its change on (again when cleared).
            at = EPOCH + timedelta(days=max(change_day, day))
            watched.append(
                ex.Watched(planted, at, float(planted_members.mean()) * world.cheap_per_day, {})
            )
            ex.set_boosts(watched, exploration_per_day)
        n = int(rng.poisson(world.cheap_per_day))
        idx = rng.integers(0, POOL, size=n)
        t = day + np.sort(rng.random(n))
        exploring = any(w.status == ex.WatchStatus.WATCHING and w.boost > 0 for w in watched)
        run.exploring_days += exploring
        p_base = (p_reduced if exploring else p_full)[world.tenant[idx]]
        p_explore = np.zeros(n)
        for w in watched:
            if w.status == ex.WatchStatus.WATCHING and w.boost > 0:
                p_explore = np.maximum(p_explore, w.boost * world.member(w.conditions)[idx])
        base = rng.random(n) < p_base
        explore = rng.random(n) < p_explore
        take = base | explore
        run.sampled += int(take.sum())
        run.explored += int((explore & ~base).sum())
        p = 1 - (1 - p_base) * (1 - p_explore)
        rate = base_rate + PLANT_EFFECT * (planted_members[idx] & (t >= change_day))
        y = (rng.random(n) < rate).astype(float)
        noise = np.where(rng.random(n) < NOISE_FRACTION, (rng.random(n) < NOISE_RATE) * 1.0, np.nan)
        idx_l.append(idx[take])
        t_l.append(t[take])
        w_l.append(1.0 / p[take])
        y_l.append(y[take])
        noise_l.append(noise[take])

        end = day + 1.0
        now = EPOCH + timedelta(days=end)
        all_idx, all_t = np.concatenate(idx_l), np.concatenate(t_l)
        all_w, all_y, all_noise = np.concatenate(w_l), np.concatenate(y_l), np.concatenate(noise_l)
        watching = [w for w in watched if w.status == ex.WatchStatus.WATCHING]
        if watching:
            since = (min(w.nominated_at for w in watching) - EPOCH).total_seconds() / 86400.0
            keep = all_t >= since
            table = _table(world, all_idx[keep], all_y[keep], all_w[keep], all_noise[keep])
            occurred = EPOCH.timestamp() + all_t[keep] * 86400.0
            for w in ex.review(watched, table, occurred, now, alpha):
                alerted.add(w.key)
                inside = (world.member(w.conditions) & planted_members).sum()
                precision = inside / max(world.member(w.conditions).sum(), 1)
                if planted and end > change_day and precision >= 0.5:
                    if run.confirmed_day is None:
                        run.confirmed_day = end - change_day
                elif planted and end > change_day and precision >= 0.1:
                    run.other += 1
                else:
                    run.false_alerts += 1
            for w in watched:
                if w.status == ex.WatchStatus.CLEARED and w.decided_at == now:
                    cleared[w.key] = now
                    inside = (world.member(w.conditions) & planted_members).sum()
                    if planted and inside / max(world.member(w.conditions).sum(), 1) >= 0.5:
                        run.fates.append(
                            f"cleared {end - change_day:.0f} d after the change at {w.pairs} "
                            f"pairs (z {w.last_test.get('z', math.nan):.1f})"
                        )
        if planted and run.confirmed_day is not None:
            break
        if not oracle and end >= WINDOW_DAYS:
            window = all_t >= end - WINDOW_DAYS
            table = _table(world, all_idx[window], all_y[window], all_w[window], all_noise[window])
            start = EPOCH + timedelta(days=end - WINDOW_DAYS)
            week_ago = now - timedelta(days=7)
            recent = sum(1 for w in watched if w.nominated_at >= week_ago)
            newcomers = ex.nominate(
                table,
                watched,
                start,
                now,
                params,
                cleared,
                alerted,
                nominated_last_week=recent,
                preempt_margin=preempt_margin,
            )
            for w in watched:  # places taken from weaker watches
                if w.status == ex.WatchStatus.CLEARED and w.decided_at == now:
                    cleared[w.key] = now
            run.nominated += len(newcomers)
            for w in newcomers:
                inside = (world.member(w.conditions) & planted_members).sum()
                if (
                    run.true_nominated is None
                    and planted
                    and end > change_day
                    and (inside / max(world.member(w.conditions).sum(), 1) >= 0.5)
                ):
                    run.true_nominated = end - change_day
        ex.set_boosts(watched, exploration_per_day)
    return run


def _table(
    world: World, idx: np.ndarray, y: np.ndarray, w: np.ndarray, noise: np.ndarray
) -> PairTable:
    rows = [world.rows[int(i)] for i in idx]
    return build_table([f"p{i}" for i in idx], y, w, list(noise), rows)  # type: ignore[arg-type]


def poisson_upper(k: int, exposure: float, level: float = 0.95) -> float:
    """One-sided upper confidence bound of a Poisson rate (exact, chi-square)."""
    return float(stats.chi2.ppf(level, 2 * (k + 1)) / 2.0 / exposure)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plantings", type=int, default=40)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--share", type=float, default=None, help="default: the shipped setting")
    parser.add_argument("--events-per-week", type=float, default=30_000)
    parser.add_argument("--share-low", type=float, default=0.01)
    parser.add_argument("--share-high", type=float, default=0.05)
    parser.add_argument("--null-weeks", type=int, default=52)
    parser.add_argument("--baseline", action="store_true", help="also run with no exploration")
    parser.add_argument("--quick", action="store_true", help="10 plantings, 13 null weeks")
    parser.add_argument("--verbose", action="store_true")
    parser.add_argument(
        "--detector-reps", type=int, default=25, help="simulated changes per declared tenant"
    )
    # Tuning only: the shipped values are the module constants of shadowgap.slices.exploration.
    parser.add_argument("--max-watched", type=int, default=ex.MAX_WATCHED)
    parser.add_argument("--nominate-min-pairs", type=int, default=ex.NOMINATE_MIN_PAIRS)
    parser.add_argument("--nominate-p", type=float, default=ex.NOMINATE_P)
    parser.add_argument("--futility-z", type=float, default=ex.FUTILITY_Z)
    parser.add_argument("--max-nominations", type=int, default=ex.MAX_NOMINATIONS_PER_WEEK)
    parser.add_argument(
        "--preempt-margin", type=float, default=None, help="negative: no preemption"
    )
    args = parser.parse_args()
    if args.preempt_margin is not None:
        PREEMPT_MARGIN["value"] = None if args.preempt_margin < 0 else args.preempt_margin
    ex.MAX_WATCHED, ex.NOMINATE_MIN_PAIRS = args.max_watched, args.nominate_min_pairs
    ex.NOMINATE_P, ex.FUTILITY_Z = args.nominate_p, args.futility_z
    ex.MAX_NOMINATIONS_PER_WEEK = args.max_nominations
    if args.quick:
        args.plantings, args.null_weeks, args.detector_reps = 10, 13, 5
    settings = Settings()
    share = settings.slice_exploration_share if args.share is None else args.share
    started = time.perf_counter()
    world = make_world(args.seed, args.events_per_week)
    _, delay_none = base_probabilities(world, share, exploring=False)
    _, delay_share = base_probabilities(world, share, exploring=True)
    print(
        f"slice exploration benchmark: {args.events_per_week:.0f} requests/week, "
        f"{len(TENANT_SHARES)} tenants, {CHEAP_SHARE:.0%} cheap, budget "
        f"{settings.sampling_budget_fraction:.0%}, exploration share {share:.0%}, "
        f"{args.plantings} plantings of {args.share_low:.0%}-{args.share_high:.0%}, "
        f"seed {args.seed}"
    )
    rng = np.random.default_rng(args.seed * 7919)
    p_reduced, _ = base_probabilities(world, share, exploring=True)
    found, oracle_days, baseline_days, shares, base_weekly = [], [], [], [], []
    explored = sampled = 0
    for i in range(args.plantings):
        planted = pick_planting(world, rng, args.share_low, args.share_high)
        change = float(rng.uniform(7, 14))
        base = float(rng.uniform(0.15, 0.25))
        days = int(math.ceil(change)) + 28
        seed = args.seed * 100_000 + i
        run = simulate(world, seed, share, days, planted, change, base)
        oracle = simulate(world, seed, share, days, planted, change, base, oracle=True)
        found.append(run.confirmed_day)
        oracle_days.append(oracle.confirmed_day)
        shares.append(float(world.member(planted).mean()))
        # The planted slice's judged pairs a week from the base design alone (what nomination
        # has to go on before exploration reaches it).
        inside = world.member(planted)
        base_weekly.append(
            float(p_reduced[world.tenant[inside]].sum()) / POOL * world.cheap_per_day * 7
        )
        explored, sampled = explored + run.explored, sampled + run.sampled
        line = (
            f"  planting {i:2d}: share {shares[-1]:.1%} ({base_weekly[-1]:.0f} base pairs/week) "
            f"{'&'.join(f'{f}={v}' for f, v in planted)}"
            f" -> {_days(run.confirmed_day)} (oracle {_days(oracle.confirmed_day)}), "
            f"{run.nominated} nominated (it: {_days(run.true_nominated)}), {run.other} wider, "
            f"{run.false_alerts} false"
        )
        if args.verbose and run.fates:
            line += "; " + "; ".join(run.fates)
        if args.baseline:
            none = simulate(world, seed, 0.0, days, planted, change, base)
            baseline_days.append(none.confirmed_day)
            line += f", no exploration {_days(none.confirmed_day)}"
        if args.verbose or run.confirmed_day is None or run.confirmed_day > 14:
            print(line)

    false_alerts, weeks, stream, null_days, exploring_days = 0, 0, 0, 0, 0
    while weeks < args.null_weeks:
        length = min(13, args.null_weeks - weeks)
        run = simulate(
            world,
            args.seed * 100_000 + 50_000 + stream,
            share,
            7 * (length + 1),
            None,
            0.0,
            float(rng.uniform(0.15, 0.25)),
        )
        false_alerts += run.false_alerts
        null_days += 7 * (length + 1)
        exploring_days += run.exploring_days
        weeks += length
        stream += 1

    def within(values: list[float | None], limit: float) -> float:
        return sum(1 for v in values if v is not None and v <= limit) / max(len(values), 1)

    hit_days = [d for d in found if d is not None]
    oracle_hit = [d for d in oracle_days if d is not None]
    median = float(np.median(hit_days)) if len(hit_days) * 2 > len(found) else math.inf
    median_oracle = float(np.median(oracle_hit)) if oracle_hit else math.nan
    rate = false_alerts / max(weeks, 1)
    # The slice alerts' stated share of the one false-alarm budget (the confirmation's alpha
    # is derived from it), and the ceiling.
    allowed = min(TARGET_FALSE, settings.slice_false_alarm_share * settings.false_alarms_per_week)
    upper = poisson_upper(false_alerts, max(weeks, 1))
    worse = delay_share / delay_none - 1.0
    sim_none, sim_share, sim_missed = simulated_detection_days(
        world, share, args.detector_reps, args.seed
    )
    sim_worse = sim_share / sim_none - 1.0
    print(
        f"declared segments' planned mean detection delay (the sampler's model) while exploring "
        f"{delay_share:.2f} d vs {delay_none:.2f} d without: {worse:+.1%}"
    )
    print(
        f"exploration took {explored / max(sampled, 1):.1%} of the sampled pairs in the plantings"
    )
    weekly = np.asarray(base_weekly)
    print(
        f"planted slices' judged pairs a week from the base design: median {np.median(weekly):.1f}"
        f", {np.mean(weekly < 10):.0%} of plantings below 10 (discovery needs 60-120 pairs, a "
        f"nomination 10-20 after the change)"
    )
    print(
        f"slices under watch (base design at {1 - share:.0%} of the budget) on "
        f"{exploring_days / max(null_days, 1):.0%} of the stationary days"
    )
    if args.baseline:
        print(
            f"no exploration: confirmed within 14 days {within(baseline_days, 14):.0%}, "
            f"within 28 days {within(baseline_days, 28):.0%}"
        )
    results = [
        (
            f"confirmed within 14 days: {within(found, 14):.0%} (target >= {TARGET_14:.0%})",
            within(found, 14) >= TARGET_14,
        ),
        (
            f"confirmed within 28 days: {within(found, 28):.0%} (target >= {TARGET_28:.0%})",
            within(found, 28) >= TARGET_28,
        ),
        (
            f"median days to confirmation {median:.1f} vs oracle {median_oracle:.1f}: "
            f"{median / median_oracle:.2f}x (target <= {TARGET_ORACLE}x)",
            median <= TARGET_ORACLE * median_oracle,
        ),
        (
            f"false slice alerts on {weeks} stationary weeks: {false_alerts} = {rate:.3f}/week, "
            f"95% upper bound {upper:.3f} (target <= {allowed:.2f}: the slice share "
            f"{settings.slice_false_alarm_share:.0%} of {settings.false_alarms_per_week:g} false "
            f"alarms a week, at most {TARGET_FALSE})",
            upper <= allowed,
        ),
        (
            f"declared segments' mean detection delay, simulated quality detectors on base "
            f"draws, {len(TENANT_SHARES) * args.detector_reps} changes, while exploring "
            f"{sim_share:.2f} d vs {sim_none:.2f} d without: {sim_worse:+.1%} "
            f"(target <= +{TARGET_DELAY:.0%}; {sim_missed} of both arms' changes not caught "
            f"in {DETECTOR_HORIZON_DAYS:.0f} d, counted at {DETECTOR_HORIZON_DAYS:.0f})",
            sim_worse <= TARGET_DELAY,
        ),
    ]
    for text, ok in results:
        print(f"{verdict(ok)}  {text}")
    print(f"({time.perf_counter() - started:.0f} s)")
    return 0 if all(ok for _, ok in results) else 1


def _days(value: float | None) -> str:
    return "never" if value is None else f"{value:.0f} d"


if __name__ == "__main__":
    sys.exit(main())
