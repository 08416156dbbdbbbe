"""Verifying a router change after it ships: before against after, with the power it has.

For a recorded change (:mod:`shadowgap.changes.record`) the scope's traffic in the
``change_before_days`` before it went live (cut at the latest earlier change whose scope shares
a segment, so the before level is one routing's) is compared with the traffic since, up to
``change_verify_days`` after it, on three metrics (:mod:`shadowgap.stats.before_after` defines
each and its standard error): the per-request excess gap from Hajek-weighted verdicts (the
base design's draws, as the detectors see them), the cost per request (reported per day at the
after window's volume) and the p95 latency of every request of the scope.

**Looks.** The after window is cut at a fixed grid of event counts (50, then 25% more each
time), and every cut is a look for each metric whose information (one over its difference's
variance) grew by 10% since its last look; quality once the after window has 20 judged pairs.
Each metric spends its share of ``change_false_flag_rate`` (0.4 to quality, 0.2 each to cost
and p95, a fifth held back against the early looks' approximations) over calendar time of the
horizon with Pocock's spending function, and each look's boundary is solved so that the chance
of a first crossing there is that look's increment (:mod:`shadowgap.stats.group_sequential`:
the looks share the before level, so they are strongly correlated, and the boundaries use that
instead of paying for every look). A change that moved nothing is flagged with probability at
most ``change_false_flag_rate`` over the horizon, the three metrics together; a bad change is
flagged at the first look where its rise crosses the boundary, without waiting for a look sized
in advance. The last cut of the horizon spends what is left. Looks are taken once and kept
(``verification.looks``, each with its information, spent rate, boundary and z).

**Verdict.** ``regressed`` as soon as a look finds a metric worse beyond its tolerance: the
lower one-sided bound of the rise above the predicted effect's upper end (the proposal's
``predicted``, a change after minus before) or above zero when nothing was predicted. Then a
``change_regressed`` alert opens through the usual lifecycle and channels, with a rollback
recommendation. ``verified`` once a look found nothing worse with the power to see a rise of
``change_min_effect`` (80% against its boundary), or the horizon ended with nothing worse;
later looks may still flag it within the horizon. ``pending`` before that, with the pairs
the scope has, the pairs it needs and the expected time to get them at the current rate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shadowgap.changes.alerting import open_regressed_alert
from shadowgap.changes.scope import scope_segments, stored_scope_ids
from shadowgap.config import Settings
from shadowgap.db.models import RouterChange, SamplingDecision, TrafficEvent, Verdict
from shadowgap.db.scope import scope_pairs
from shadowgap.db.watermark import window_end
from shadowgap.enums import ChangeStatus, VerdictKind, Winner
from shadowgap.stats.before_after import (
    POWER,
    Shift,
    all_flagship_after,
    excess_gap_shift,
    mean_shift,
    quantile_shift,
    request_excess,
    z_for,
)
from shadowgap.stats.estimates import Z_95
from shadowgap.stats.excess_gap import WeightedSums, excess_gap
from shadowgap.stats.group_sequential import SpendingTest, pocock_spending

# Each metric's share of the false-flag rate. Quality gets the most: its evidence is the scarce
# one (judged pairs), while cost and latency come with every request. A fifth is held back: the
# early looks rest on normal approximations from few pairs (and p95 from ~100 events) that are
# not exact, and the shares together would otherwise spend the whole rate on them.
METRIC_SHARES = {"excess_gap": 0.4, "cost_per_day": 0.2, "p95_ms": 0.2}
FIRST_CUT = 50  # events after the change at the first cut
CUT_GROWTH = 1.25
# Quality is tested once the after window has this many judged pairs: below it the normal
# approximation of a rate (and its estimated variance) is too rough to spend error rate on.
MIN_PAIRS_AFTER = 20
# A metric is looked at again once its information grew by this factor since its last look.
INFO_GROWTH = 1.1
_DAY = 86_400.0


@dataclass
class Window:
    """One side's rows, in event-time order (numpy arrays)."""

    times: np.ndarray  # event epoch seconds
    cheap: np.ndarray  # bool
    cost: np.ndarray  # float, nan where unknown
    latency: np.ndarray  # float, nan where unknown
    pair_times: np.ndarray  # 'gap' verdicts: their events' epoch seconds
    pair_y: np.ndarray  # 1.0 where the flagship won
    pair_w: np.ndarray  # 1 / inclusion probability

    def upto(self, t: float) -> Window:
        e = int(np.searchsorted(self.times, t, side="right"))
        p = int(np.searchsorted(self.pair_times, t, side="right"))
        return Window(
            self.times[:e],
            self.cheap[:e],
            self.cost[:e],
            self.latency[:e],
            self.pair_times[:p],
            self.pair_y[:p],
            self.pair_w[:p],
        )

    def gap_sums(self) -> WeightedSums:
        w, y = self.pair_w, self.pair_y
        return WeightedSums(
            int(w.size),
            float(w.sum()),
            float((w * y).sum()),
            float((w * w).sum()),
            float((w * w * y).sum()),
        )


@dataclass(frozen=True)
class Figures:
    """The three shifts at one cut, and what scales them."""

    quality: Shift
    cost: Shift  # per request; cost_per_day = delta x events_per_day
    p95: Shift
    events_per_day: float
    min_effect: float  # per-request excess-gap rise the power is sized for
    # The after window decides quality by its routing alone (a route-to-flagship change, the
    # rule of shadowgap.stats.before_after.all_flagship_after).
    all_flagship_after: bool = False

    def target_se(self, alpha: float) -> float:
        """The standard error at which a fixed-sample test at quality's share of ``alpha``
        would see the minimum effect with 80% power (what :func:`_pending` counts toward)."""
        level = alpha * METRIC_SHARES["excess_gap"]
        return self.min_effect / (z_for(level) + _z_power())


def _z_power() -> float:
    return z_for(1.0 - POWER)


def verify_change(
    session: Session, change: RouterChange, settings: Settings, now: datetime
) -> list[int]:
    """Bring one change's verification up to date; the ids of deliveries it created."""
    if change.status == ChangeStatus.REGRESSED:
        return []
    try:
        pairs = scope_pairs(change.scope, list(settings.segment_dimensions))
    except ValueError as exc:
        # The segment dimensions were reconfigured since: say so rather than stay pending.
        change.verification = {**(change.verification or {}), "error": str(exc)}
        return []
    segment_ids = [s.id for s in scope_segments(session, pairs)]
    at = change.at
    end = min(window_end(session, now), at + timedelta(days=settings.change_verify_days))
    start = _before_start(session, change, segment_ids, settings)
    before = _window(session, segment_ids, start, at)
    after = _window(session, segment_ids, at, end)
    noise_rate, noise_var = _noise_floor(session, segment_ids, start, end)
    finished = end >= at + timedelta(days=settings.change_verify_days)

    state = dict(change.verification or {})
    looks, last_cut = take_looks(
        before,
        after,
        (noise_rate, noise_var),
        settings,
        change.predicted,
        list(state.get("looks") or []),
        int(state.get("last_cut", -1)),
        finished,
        at.timestamp(),
    )
    alpha = settings.change_false_flag_rate
    latest = _figures(before, after, noise_rate, noise_var, settings) if after.times.size else None
    state.update(
        looks=looks,
        last_cut=last_cut,
        window={
            "before_start": start.isoformat(),
            "at": at.isoformat(),
            "after_end": end.isoformat(),
            "finished": finished,
        },
        realised=_realised(latest, change) if latest else None,
        pending=None,
    )
    if any(look["worse"] for look in looks):
        change.status = ChangeStatus.REGRESSED
    # Looks stored before looks had a "decisive" flag were all decisive.
    elif any(look.get("decisive", True) for look in looks):
        change.status = ChangeStatus.VERIFIED
    else:
        change.status = ChangeStatus.PENDING
        state["pending"] = _pending(latest, after, alpha)
    change.verification = state
    change.verified_at = now
    if change.status == ChangeStatus.REGRESSED and change.alert_id is None:
        return open_regressed_alert(session, change, segment_ids, settings, now)
    return []


def take_looks(
    before: Window,
    after: Window,
    noise: tuple[float, float],
    settings: Settings,
    predicted: dict[str, Any] | None,
    looks: list[dict[str, Any]],
    last_cut: int,
    finished: bool,
    at: float,
) -> tuple[list[dict[str, Any]], int]:
    """The looks taken so far plus those the after window now allows (module doc), up to
    the first that finds something worse; ``(looks, index of the last cut looked at)``.
    ``noise`` is the noise floor's rate and variance, ``at`` the change's epoch seconds."""
    alpha = settings.change_false_flag_rate
    horizon = settings.change_verify_days * _DAY
    tests = {metric: SpendingTest() for metric in METRIC_SHARES}
    for look in looks:  # replay the boundaries the stored looks used
        for metric, result in look["metrics"].items():
            if result.get("information") is not None:
                tests[metric].look(result["information"], result["spent"])
    cuts = _cuts(after.times.size)
    for index, count in enumerate(cuts):
        if index <= last_cut or any(look["worse"] for look in looks):
            continue
        cut_time = float(after.times[count - 1])
        figures = _figures(before, after.upto(cut_time), noise[0], noise[1], settings)
        last = finished and index == len(cuts) - 1
        fraction = 1.0 if last else min((cut_time - at) / horizon, 1.0)
        taken = _look(len(looks), figures, count, cut_time, fraction, predicted, alpha, tests)
        if taken is not None:
            taken["decisive"] = taken["decisive"] or last
            looks.append(taken)
        last_cut = index
    return looks, last_cut


def verify_open_changes(session: Session, settings: Settings, now: datetime) -> list[int]:
    """Verify every change still open (not regressed, horizon not over); the deliveries."""
    changes = session.scalars(
        select(RouterChange)
        .where(RouterChange.status != ChangeStatus.REGRESSED)
        .order_by(RouterChange.id)
    ).all()
    deliveries: list[int] = []
    for change in changes:
        if (change.verification or {}).get("window", {}).get("finished"):
            continue
        deliveries += verify_change(session, change, settings, now)
    return deliveries


def _cuts(n: int) -> list[int]:
    """Event counts after the change at which the grid cuts (module doc)."""
    cuts: list[int] = []
    count = float(FIRST_CUT)
    while math.ceil(count) <= n:
        cuts.append(math.ceil(count))
        count *= CUT_GROWTH
    return cuts


def _figures(
    before: Window, after: Window, noise_rate: float, noise_var: float, settings: Settings
) -> Figures:
    rb = request_excess(
        before.gap_sums(), noise_rate, int(before.cheap.sum()), int(before.times.size)
    )
    ra = request_excess(after.gap_sums(), noise_rate, int(after.cheap.sum()), int(after.times.size))
    quality = excess_gap_shift(rb, ra, noise_var)
    cost = mean_shift(_known(before.cost), _known(after.cost))
    p95 = quantile_shift(_known(before.latency), _known(after.latency), 0.95)
    span = float(after.times[-1] - after.times[0]) if after.times.size > 1 else 0.0
    per_day = after.times.size * _DAY / span if span > 0 else 0.0
    share = rb.cheap_share if rb.cheap_share is not None else 1.0
    return Figures(
        quality,
        cost,
        p95,
        per_day,
        settings.change_min_effect * max(share, 1e-6),
        all_flagship_after(after.cheap),
    )


def _known(values: np.ndarray) -> np.ndarray:
    return values[np.isfinite(values)]


def _tolerance(predicted: dict[str, Any] | None, metric: str) -> float:
    """The predicted rise's upper end (after minus before); zero when none was predicted."""
    item = (predicted or {}).get(metric)
    return float(item["ci"][1]) if item else 0.0


def _look(
    index: int,
    figures: Figures,
    count: int,
    cut_time: float,
    fraction: float,
    predicted: dict[str, Any] | None,
    alpha: float,
    tests: dict[str, SpendingTest],
) -> dict[str, Any] | None:
    """Test each metric whose information grew enough since its last look; None when none
    did. Each metric spends its share of ``alpha`` by the calendar fraction of the horizon."""
    per_day = figures.events_per_day
    shifts = {
        "excess_gap": (figures.quality, 1.0),
        "cost_per_day": (figures.cost, per_day),
        "p95_ms": (figures.p95, 1.0),
    }
    results: dict[str, Any] = {}
    worse: list[str] = []
    decisive = False
    for metric, (shift, scale) in shifts.items():
        tolerance = _tolerance(predicted, metric)
        test = tests[metric]
        delta, se = shift.delta, shift.se
        # A scope whose requests all went to the flagship has no forward pairs to wait for: its
        # after side is known (0 excess), and only the before side's uncertainty remains.
        enough = (
            metric != "excess_gap" or shift.n_after >= MIN_PAIRS_AFTER or figures.all_flagship_after
        )
        if delta is None or not se or not enough or 1.0 / se**2 < test.information * INFO_GROWTH:
            continue
        spent = pocock_spending(alpha * METRIC_SHARES[metric], fraction)
        information = 1.0 / se**2
        boundary = test.look(information, spent)
        # Cost is tested per request: the tolerance per day over the after window's volume.
        per_unit = tolerance / scale if scale > 0 else math.inf
        z = (delta - per_unit) / se
        flagged = math.isfinite(boundary) and z > boundary
        results[metric] = {
            "delta": _scaled(delta, scale),
            "lower_bound": _scaled(delta - boundary * se, scale)
            if math.isfinite(boundary)
            else None,
            "tolerance": tolerance,
            "z": z,
            "boundary": boundary if math.isfinite(boundary) else None,
            "information": information,
            "spent": spent,
            "worse": flagged,
        }
        if flagged:
            worse.append(metric)
        if metric == "excess_gap" and figures.all_flagship_after:
            # Nothing went cheap, so nothing can have lost on the cheap path: the quality
            # question is answered by the routing itself, which is observed on every request.
            decisive = True
        elif metric == "excess_gap" and math.isfinite(boundary):
            # Powered: a rise of the minimum effect would cross this boundary 80% of the time.
            decisive = se <= figures.min_effect / (boundary + _z_power())
    if not results:
        return None
    return {
        "look": index,
        "events_after": count,
        "cut_at": datetime.fromtimestamp(cut_time, UTC).isoformat(),
        "fraction": fraction,
        "pairs_after": figures.quality.n_after,
        "all_flagship_after": figures.all_flagship_after,
        "metrics": results,
        "worse": worse,
        "decisive": decisive,
    }


def _scaled(value: float | None, scale: float) -> float | None:
    return None if value is None else value * scale


def _realised(figures: Figures, change: RouterChange) -> dict[str, Any]:
    """The latest figures per metric, with 95% intervals and the predicted effect."""
    out: dict[str, Any] = {}
    scales = {"excess_gap": 1.0, "cost_per_day": figures.events_per_day, "p95_ms": 1.0}
    shifts = {"excess_gap": figures.quality, "cost_per_day": figures.cost, "p95_ms": figures.p95}
    for metric, shift in shifts.items():
        scale = scales[metric]
        bounds = shift.interval(Z_95)
        out[metric] = {
            "before": _scaled(shift.before, scale),
            "after": _scaled(shift.after, scale),
            "delta": _scaled(shift.delta, scale),
            "ci": [bounds[0] * scale, bounds[1] * scale] if bounds else None,
            "n_before": shift.n_before,
            "n_after": shift.n_after,
            "predicted": (change.predicted or {}).get(metric),
        }
    out["unit"] = {
        "excess_gap": "excess flagship wins per request of the scope",
        "cost_per_day": "USD a day at the after window's volume (per request x requests a day)",
        "p95_ms": "ms, every request of the scope",
    }
    return out


def _pending(figures: Figures | None, after: Window, alpha: float) -> dict[str, Any]:
    """Pairs since the change, pairs needed for the first look, expected days to get them."""
    if figures is None or figures.quality.se is None:
        return {"pairs": int(after.pair_w.size), "pairs_needed": None, "expected_days": None}
    have = max(figures.quality.n_after, 1)
    target = figures.target_se(alpha)
    # The after side's variance falls as 1/n; the before side's stays (approximation).
    needed = math.ceil(have * (figures.quality.se / target) ** 2)
    span = float(after.times[-1] - after.times[0]) if after.times.size > 1 else 0.0
    rate = have * _DAY / span if span > 0 else None
    days = (needed - have) / rate if rate else None
    return {
        "pairs": int(after.pair_w.size),
        "pairs_needed": max(needed, have),
        "expected_days": max(days, 0.0) if days is not None else None,
    }


# --- queries -------------------------------------------------------------------------------


def _epochs(values: list[Any]) -> np.ndarray:
    return np.asarray([v.timestamp() for v in values], dtype=float)


def _window(session: Session, segment_ids: list[int], start: datetime, end: datetime) -> Window:
    E = TrafficEvent
    events = session.execute(
        select(E.occurred_at, E.is_cheap, E.cost_usd, E.latency_ms)
        .where(E.segment_id.in_(segment_ids), E.occurred_at >= start, E.occurred_at < end)
        .order_by(E.occurred_at, E.id)
    ).all()
    # The base design's draws only, weighted by its own probability, as the detectors read them.
    probability = func.coalesce(SamplingDecision.base_probability, Verdict.inclusion_probability)
    verdicts = session.execute(
        select(E.occurred_at, Verdict.winner, probability)
        .join(E, E.id == Verdict.event_pk)
        .outerjoin(SamplingDecision, SamplingDecision.event_pk == Verdict.event_pk)
        .where(
            Verdict.segment_id.in_(segment_ids),
            Verdict.kind == VerdictKind.GAP,
            func.coalesce(SamplingDecision.base_draw, True).is_(True),
            E.occurred_at >= start,
            E.occurred_at < end,
        )
        .order_by(E.occurred_at, E.id)
    ).all()
    return Window(
        times=_epochs([_utc(row[0]) for row in events]),
        cheap=np.asarray([bool(row[1]) for row in events], dtype=bool),
        cost=np.asarray([_num(row[2]) for row in events], dtype=float),
        latency=np.asarray([_num(row[3]) for row in events], dtype=float),
        pair_times=_epochs([_utc(row[0]) for row in verdicts]),
        pair_y=np.asarray([1.0 if row[1] == Winner.FLAGSHIP else 0.0 for row in verdicts]),
        pair_w=np.asarray([1.0 / max(float(row[2]), 1e-6) for row in verdicts], dtype=float),
    )


def _utc(when: datetime) -> datetime:
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when


def _num(value: float | None) -> float:
    return math.nan if value is None else float(value)


def _before_start(
    session: Session, change: RouterChange, segment_ids: list[int], settings: Settings
) -> datetime:
    """Where the before window starts: ``change_before_days`` before the change, or later at
    the latest earlier change whose scope shares a segment with this one (before it, the
    segment was routed otherwise, and its level is not this change's baseline)."""
    start = change.at - timedelta(days=settings.change_before_days)
    earlier = session.scalars(
        select(RouterChange)
        .where(RouterChange.id != change.id, RouterChange.at < change.at)
        .where(RouterChange.at > start)
        .order_by(RouterChange.at.desc())
    ).all()
    ours = set(segment_ids)
    dimensions = list(settings.segment_dimensions)
    for other in earlier:
        if ours & stored_scope_ids(session, other.scope, dimensions):
            return other.at
    return start


def _noise_floor(
    session: Session, segment_ids: list[int], start: datetime, end: datetime
) -> tuple[float, float]:
    """The noise rate both windows subtract and its variance: the scope's noise pairs over
    both windows, or the deployment's when the scope has too few (the rule of
    :func:`shadowgap.stats.excess_gap.excess_gap`)."""
    scope = _noise_sums(session, start, end, segment_ids)
    everyone = _noise_sums(session, start, end, None)
    floor = excess_gap(WeightedSums(n=1, w=1.0), scope, everyone)
    rate = floor.noise_rate or 0.0
    source = scope if floor.noise_source == "segment" else everyone
    return rate, source.variance or 0.0


def _noise_sums(
    session: Session, start: datetime, end: datetime, segment_ids: list[int] | None
) -> WeightedSums:
    E = TrafficEvent
    query = (
        select(Verdict.winner, Verdict.inclusion_probability)
        .join(E, E.id == Verdict.event_pk)
        .where(Verdict.kind == VerdictKind.NOISE, E.occurred_at >= start, E.occurred_at < end)
    )
    if segment_ids is not None:
        query = query.where(Verdict.segment_id.in_(segment_ids))
    total = WeightedSums()
    for winner, probability in session.execute(query):
        weight = 1.0 / max(float(probability), 1e-6)
        y = 1.0 if winner == Winner.FLAGSHIP else 0.0
        total = total + WeightedSums(1, weight, weight * y, weight * weight, weight * weight * y)
    return total
