"""Adaptive sampling toward candidate slices (issue 23): spend a share of the budget chasing
what looks suspicious, so that an undeclared regressed slice gets the judged pairs that a
declared segment would get from the power allocation.

An undeclared slice holding 2% of traffic gets only its proportional share of its segment's
sample: about a dozen judged pairs a week at the default 2% budget, while discovery needs
60-120. So every run:

1. **Nominate.** :func:`shadowgap.slices.lattice.screen` lists the slices of the window with at
   least ``NOMINATE_MIN_PAIRS`` pairs whose *nominal* one-sided p is at most ``NOMINATE_P``
   (no multiplicity correction: nomination only steers sampling, it never alerts). Slices whose
   traffic moved (:mod:`shadowgap.slices.movers`: share, routing share or error rate, on every
   request, no judging needed) come first, in at most ``MAX_TRAFFIC_WATCHED`` places. The most
   significant ones not already watched, and not overlapping a watched one, fill the free
   places up to ``MAX_WATCHED``, and at most ``MAX_NOMINATIONS_PER_WEEK`` watches start in any
   7 days. A slice cleared before is nominated again only from a window that starts after it
   was cleared (fresh data). **Preemption** (``slice_preempt_margin``): when every place is
   taken, a suggestive slice takes the place of the watch whose evidence on the current window
   (its exploration pairs included) stands lowest, if its z beats that by the margin and the
   watch is at least ``MIN_WATCH_DAYS_BEFORE_PREEMPTION`` old. Why: most watches are null
   slices that looked suggestive by chance; their evidence fades as their boosted pairs come
   in, while a real slice's grows. Without preemption a null watch held its place until a look
   or ``MAX_WATCH_DAYS`` (a small one takes a week to its first look), and the planted slice
   waited behind it with the highest z of the screen for days (docs/slices.md).
2. **Boost.** The exploration budget (``SHADOWGAP_SLICE_EXPLORATION_SHARE`` of the sampling
   budget, in requests a day) is split equally among the watched slices as an exploration
   probability ``p_explore = part / (its estimated cheap requests a day)``, capped at
   ``MAX_BOOST`` (water-filling: what a capped slice cannot take goes to the others); a request
   matching several takes the largest. The sampler draws it independently of the base design
   (:func:`shadowgap.shadow.sampling.decide_explored`), so the spending never exceeds the share
   and every pair keeps its actual inclusion probability.
3. **Confirm on new pairs only.** A watched slice is tested against the rest of the traffic on
   the pairs whose event time is after its nomination (the window it was nominated on is never
   reused), at the first run after it holds ``LOOKS[k]`` of them: a one-sided Hajek-weighted
   test (:func:`shadowgap.slices.lattice.compare`) at ``alpha / len(LOOKS)`` per look
   (Bonferroni over the looks, so a null slice confirms with probability at most ``alpha``
   whatever the looks' dependence). ``alpha`` comes from the slice alerts' share of the one
   false-alarm budget (:func:`confirm_alpha`). Confirmed: it alerts, as discovery's slices do.
   **Retired** (cleared) after the last look, at a look where its excess is not above the
   rest's (futility: it can only lower the false-alarm rate), or after ``MAX_WATCH_DAYS``.

Pure functions over :class:`shadowgap.slices.lattice.PairTable`: the discovery job and
``benchmarks/slices_exploration.py`` run the same code.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import numpy as np
from numpy.typing import NDArray

from shadowgap.config import Settings
from shadowgap.db.slice_match import holds
from shadowgap.slices.lattice import (
    FeatureValue,
    PairTable,
    SearchParams,
    compare,
    members_of,
    screen,
)
from shadowgap.slices.movers import Mover

NOMINATE_P = 0.02  # nominal one-sided p below which a slice is suggestive
NOMINATE_MIN_PAIRS = 10  # fewest pairs a slice needs to be nominated
MAX_WATCHED = 2  # most slices under watch at once
MAX_NOMINATIONS_PER_WEEK = 20  # the cap the confirmation's alpha is derived from (module doc)
MAX_TRAFFIC_WATCHED = 2  # most of the places that slices whose traffic moved may take
MAX_BOOST = 0.5  # largest exploration probability of a request
CHECKS = (10, 20, 30, 45, 60)  # judged pairs after nomination at which the slice is reviewed
LOOKS = (20, 30, 45, 60)  # the reviews that may confirm (the error budget is split among them)
FUTILITY_Z = 0.5  # at a review, a z below this clears the slice (frees its place)
MAX_WATCH_DAYS = 21.0  # a watched slice that has not decided by then is retired
OVERLAP = 0.5  # a nominee sharing this much of its pairs with a watched slice is that slice
MIN_WATCH_DAYS_BEFORE_PREEMPTION = 1.0  # a watch keeps its place at least this long


class WatchStatus(StrEnum):
    WATCHING = "watching"
    CONFIRMED = "confirmed"
    CLEARED = "cleared"


@dataclass
class Watched:
    """One slice under watch."""

    conditions: list[FeatureValue]
    nominated_at: datetime  # end of the window it was nominated on: its pairs count after it
    volume_per_day: float  # estimated cheap requests a day that match it (Hajek, at nomination)
    evidence: dict[str, Any]  # at nomination: nominal z, p, difference, n (or the traffic move)
    boost: float = 0.0
    source: str = "judged"  # judged: suggestive pairs; traffic: its traffic moved (movers)
    status: WatchStatus = WatchStatus.WATCHING
    looks_done: int = 0
    pairs: int = 0  # judged pairs after nomination
    decided_at: datetime | None = None
    last_test: dict[str, float] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return "&".join(f"{f}={v}" for f, v in sorted(self.conditions))

    def expected_days_to_decision(self, pairs_per_day: float) -> float | None:
        """Days until the next look at the current rate of judged pairs (None: no rate)."""
        if self.status != WatchStatus.WATCHING or self.looks_done >= len(CHECKS):
            return None
        if pairs_per_day <= 0:
            return None
        return max(0.0, CHECKS[self.looks_done] - self.pairs) / pairs_per_day


def explore_probability(features: Mapping[str, object], watched: Sequence[Watched]) -> float:
    """The exploration probability of one request: the largest boost of the watched slices it
    matches (0 when none)."""
    return max(
        (
            w.boost
            for w in watched
            if w.status == WatchStatus.WATCHING and w.boost > 0 and holds(features, w.conditions)
        ),
        default=0.0,
    )


def set_boosts(watched: Sequence[Watched], exploration_per_day: float) -> None:
    """Split the exploration budget (requests a day) equally among the watched slices, each
    boost capped at ``MAX_BOOST``; what a capped slice cannot spend goes to the others
    (water-filling), so the share is spent whenever the watched slices can take it, and never
    more. (Equal parts, not parts in proportion to each slice's posterior probability of a
    real excess: that moved the boosts from day to day, spread the Hajek weights of a slice's
    own pairs and slowed its confirmation, docs/slices.md.)"""
    active = [w for w in watched if w.status == WatchStatus.WATCHING]
    for w in watched:
        w.boost = 0.0
    remaining, open_ = exploration_per_day, list(active)
    while open_ and remaining > 1e-9:
        total = float(len(open_))
        capped = []
        for w in open_:
            share = remaining / total
            if w.boost + share / max(w.volume_per_day, 1e-9) >= MAX_BOOST:
                capped.append(w)
        if not capped:
            for w in open_:
                w.boost += remaining / total / w.volume_per_day
            return
        for w in capped:  # fill these to the cap, then share what is left among the rest
            remaining -= (MAX_BOOST - w.boost) * w.volume_per_day
            w.boost = MAX_BOOST
            open_.remove(w)


def confirm_alpha(settings: Settings) -> float:
    """The one-sided level of a watch's confirmation, from the slice alerts' share of the
    false-alarm budget: at most ``MAX_NOMINATIONS_PER_WEEK`` watches start a week and each
    confirms a null slice with probability at most ``alpha`` (Bonferroni over its looks), so
    the expected false slice alerts a week stay within
    ``slice_false_alarm_share x false_alarms_per_week`` (linearity of expectation, whatever
    the dependence between watches)."""
    budget = settings.slice_false_alarm_share * settings.false_alarms_per_week
    return min(0.5, budget / MAX_NOMINATIONS_PER_WEEK)


def nominate(
    table: PairTable,
    watched: list[Watched],
    window_start: datetime,
    window_end: datetime,
    params: SearchParams,
    cleared_at: Mapping[str, datetime] | None = None,
    alerted: set[str] | None = None,
    nominated_last_week: int = 0,
    movers: Sequence[Mover] = (),
    preempt_margin: float | None = None,
) -> list[Watched]:
    """New slices to watch from the window ``[window_start, window_end)`` (module doc, step 1);
    ``nominated_last_week`` watches started in the 7 days before ``window_end`` count against
    ``MAX_NOMINATIONS_PER_WEEK``. Slices whose traffic moved (``movers``, judged or not:
    :mod:`shadowgap.slices.movers`) come first, in at most ``MAX_TRAFFIC_WATCHED`` places.
    Returns the newcomers (already appended to ``watched``)."""
    active = [w for w in watched if w.status == WatchStatus.WATCHING]
    allowed = MAX_NOMINATIONS_PER_WEEK - nominated_last_week
    free = min(MAX_WATCHED - len(active), allowed)
    if allowed <= 0 or (free <= 0 and preempt_margin is None):
        return []
    screen_params = SearchParams(
        min_pairs=NOMINATE_MIN_PAIRS,
        max_conditions=params.max_conditions,
        beam=params.beam,
    )
    days = max((window_end - window_start).total_seconds() / 86400.0, 1e-9)
    taken: dict[str, NDArray[np.bool_]] = {w.key: members_of(table, w.conditions) for w in active}
    # Where each watched slice stands on this window (its exploration pairs included): a null
    # slice's evidence fades as its pairs come in, a real one's grows.
    standing = {
        w.key: _window_z(table, taken[w.key])
        for w in active
        if preempt_margin is not None and w.source == "judged"
    }
    keys = {w.key for w in active}
    newcomers: list[Watched] = []
    traffic_places = MAX_TRAFFIC_WATCHED - sum(1 for w in active if w.source == "traffic")
    candidates: list[Watched] = []
    for mover in movers:
        evidence: dict[str, Any] = {"signal": mover.signal, "z": mover.z}
        evidence.update(p_value=mover.p_value, before=mover.before, now=mover.now)
        candidates.append(
            Watched([mover.condition], window_end, mover.cheap_per_day, evidence, source="traffic")
        )
    for suggestive in screen(table, screen_params, NOMINATE_P):
        evidence = {
            "z": suggestive.z,
            "p_value": suggestive.p_value,
            "difference": suggestive.difference,
            "n": float(suggestive.n),
        }
        candidates.append(
            Watched(suggestive.conditions, window_end, suggestive.weight / days, evidence)
        )
    for candidate in candidates:
        if len(newcomers) >= allowed:
            break
        victim = None
        if len(newcomers) >= free:
            victim = _preemptible(candidate, active, standing, window_end, preempt_margin)
            if victim is None:
                continue
        if candidate.source == "traffic" and traffic_places <= 0:
            continue
        if candidate.key in keys or (alerted and candidate.key in alerted):
            continue
        if cleared_at and candidate.key in cleared_at and window_start < cleared_at[candidate.key]:
            continue  # nominated again only on data after it was cleared
        members = members_of(table, candidate.conditions)
        if any(
            _overlap(members, other) >= OVERLAP
            for key, other in taken.items()
            if victim is None or key != victim.key
        ):
            continue
        if victim is not None:  # its place goes to the candidate; it may come back on new data
            victim.status, victim.decided_at = WatchStatus.CLEARED, window_end
            victim.last_test = {**victim.last_test, "preempted_z": standing.pop(victim.key)}
            active.remove(victim)
            del taken[victim.key]
            free += 1
        taken[candidate.key] = members
        keys.add(candidate.key)
        newcomers.append(candidate)
        traffic_places -= candidate.source == "traffic"
    watched.extend(newcomers)
    return newcomers


def _window_z(table: PairTable, members: NDArray[np.bool_]) -> float:
    """The slice's nominal z against the rest of the window (as the screen tests it)."""
    if not members.any() or members.all():
        return 0.0
    z = compare(table, members, table, ~members)["z"]
    return z if np.isfinite(z) else 0.0


def _preemptible(
    candidate: Watched,
    active: Sequence[Watched],
    standing: Mapping[str, float],
    now: datetime,
    margin: float | None,
) -> Watched | None:
    """The watched slice whose place a judged candidate takes: the one whose evidence on the
    current window stands lowest, when the candidate's nominal z beats it by ``margin`` and it
    has been watched for ``MIN_WATCH_DAYS_BEFORE_PREEMPTION`` (so that it got some pairs).
    Confirmation's error control is untouched: it runs on pairs after nomination only, and the
    weekly cap on nominations still holds."""
    if margin is None or candidate.source != "judged":
        return None
    eligible = [
        w
        for w in active
        if w.key in standing
        and now - w.nominated_at >= timedelta(days=MIN_WATCH_DAYS_BEFORE_PREEMPTION)
    ]
    if not eligible:
        return None
    weakest = min(eligible, key=lambda w: standing[w.key])
    return weakest if candidate.evidence["z"] >= standing[weakest.key] + margin else None


def _overlap(a: NDArray[np.bool_], b: NDArray[np.bool_]) -> float:
    """Share of the smaller set's rows that are in both."""
    smaller = min(int(a.sum()), int(b.sum()))
    return float((a & b).sum()) / smaller if smaller else 0.0


def review(
    watched: Sequence[Watched],
    table: PairTable,
    occurred: NDArray[np.float64],
    now: datetime,
    confirm_alpha: float,
) -> list[Watched]:
    """Test the watched slices that reached a look on the pairs after their nomination
    (``table`` holds every pair since the earliest nomination, ``occurred`` their event times
    as POSIX seconds); returns the ones confirmed now (module doc, step 3)."""
    confirmed = []
    alpha = confirm_alpha / len(LOOKS)
    for w in watched:
        if w.status != WatchStatus.WATCHING:
            continue
        after = occurred >= w.nominated_at.timestamp()
        members = members_of(table, w.conditions) & after
        w.pairs = int(members.sum())
        reached = sum(1 for check in CHECKS if w.pairs >= check)
        if reached > w.looks_done:
            w.looks_done = reached
            w.last_test = {**compare(table, members, table, after & ~members), "alpha": alpha}
            may_confirm = w.pairs >= LOOKS[0]
            if may_confirm and w.last_test["p_value"] <= alpha and w.last_test["difference"] > 0:
                w.status, w.decided_at = WatchStatus.CONFIRMED, now
                confirmed.append(w)
                continue
            if w.looks_done >= len(CHECKS) or w.last_test["z"] < FUTILITY_Z:
                w.status, w.decided_at = WatchStatus.CLEARED, now
                continue
        if now - w.nominated_at > timedelta(days=MAX_WATCH_DAYS):
            w.status, w.decided_at = WatchStatus.CLEARED, now
    return confirmed
