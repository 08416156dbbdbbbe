"""The discovery run: judged pairs of a window -> slice search -> stored slices -> confirmation.

One run (``slices.discover`` hourly on beat, ``shadowgap slices`` on demand):

1. loads the judged pairs whose event time is in ``[end - window, end)``, ``end`` being the
   event-time watermark (``shadowgap.db.watermark``) unless given: one row per event
   with a 'gap' verdict (y = 1 when the flagship won, weight ``1 / inclusion_probability``), the
   outcome of its 'noise' verdict when it has one, and its slice features plus the cadence
   bucket of its user (requests per active hour in the window, from ``slice_features``);
2. runs :func:`shadowgap.slices.lattice.search` (BH-controlled, see there);
3. compares each slice with itself in the window before (excess gap with its 95% interval, and
   a one-sided test of whether it rose), estimates its share of all traffic (Hajek share of the
   cheap traffic times the window's cheap share) and stores it (``slices``, keyed by its
   conditions; the previous run's slices that were not found again become inactive);
4. confirms earlier findings on data they were not found on: a slice ``found`` on a window
   ending at T is tested once, when the pairs after T hold ``min_pairs`` of its pairs, against
   its complement in that same later data at level ``slice_confirm_alpha``. Confirmed slices
   open a ``slice`` alert (once per finding); the others become ``unconfirmed``. A slice can be
   found again, and go through confirmation again, only on a window that starts after the end of
   the one it was last found on, so its data never counts twice.

Domain functions take the session first and never commit.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import stats
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from shadowgap.config import Settings
from shadowgap.db import models
from shadowgap.db.watermark import window_end
from shadowgap.enums import AlertStatus, SliceStatus, VerdictKind, Winner
from shadowgap.slices.cadence import window_cadences
from shadowgap.slices.lattice import (
    GAP,
    NOISE,
    FoundSlice,
    PairTable,
    SearchParams,
    build_table,
    compare,
    excess_dict,
    members_of,
    search,
    sums_of,
)
from shadowgap.stats.excess_gap import WeightedSums, excess_gap

_MIN_PROBABILITY = 1e-6


@dataclass
class Window:
    """A window's judged pairs and, per row, the event time and segment."""

    start: datetime
    end: datetime
    table: PairTable
    occurred_at: list[datetime]
    segment_ids: NDArray[np.int64]
    event_pks: list[int]


@dataclass
class RunSummary:
    window_start: datetime
    window_end: datetime
    pairs: int
    tested: int
    found: list[int] = field(default_factory=list)  # slice ids, by score
    confirmed: list[int] = field(default_factory=list)
    unconfirmed: list[int] = field(default_factory=list)
    delivery_ids: list[int] = field(default_factory=list)  # to enqueue after commit
    seconds: float = 0.0


def params_from(settings: Settings) -> SearchParams:
    return SearchParams(
        min_pairs=settings.slice_min_pairs,
        max_conditions=settings.slice_max_conditions,
        beam=settings.slice_beam,
        fdr=settings.slice_fdr,
        max_results=settings.slice_max_results,
    )


def slice_key(conditions: list[tuple[str, str]]) -> str:
    return "&".join(f"{f}={v}" for f, v in sorted(conditions))[:1024]


def load_window(session: Session, start: datetime, end: datetime) -> Window:
    """Judged pairs with event time in ``[start, end)``, in event order."""
    v, sf, te = models.Verdict, models.SliceFeatures, models.TrafficEvent
    query = (
        select(
            v.event_pk,
            v.kind,
            v.winner,
            v.inclusion_probability,
            v.segment_id,
            sf.features,
            sf.occurred_at,
            te.event_id,
        )
        .join(sf, sf.event_pk == v.event_pk)
        .join(te, te.id == v.event_pk)
        .where(
            sf.occurred_at >= start,
            sf.occurred_at < end,
            v.kind.in_((VerdictKind.GAP, VerdictKind.NOISE)),
        )
        .order_by(sf.occurred_at, v.event_pk)
    )
    gap: dict[int, tuple[Any, ...]] = {}
    noise: dict[int, float] = {}
    for pk, kind, winner, probability, segment_id, features, occurred, event_id in session.execute(
        query
    ):
        won = 1.0 if winner == Winner.FLAGSHIP else 0.0
        if kind == VerdictKind.NOISE:
            noise[pk] = won
        else:
            weight = 1.0 / min(1.0, max(_MIN_PROBABILITY, float(probability)))
            gap[pk] = (won, weight, segment_id, features, occurred, event_id)
    cadences = window_cadences(session, start, end) if gap else {}
    pks = list(gap)
    features = []
    for pk in pks:
        row_features = dict(gap[pk][3] or {})
        user = row_features.get("user")
        row_features["cadence"] = cadences.get(user, "anonymous") if user else "anonymous"
        features.append(row_features)
    table = build_table(
        [gap[pk][5] for pk in pks],
        [gap[pk][0] for pk in pks],
        [gap[pk][1] for pk in pks],
        [noise.get(pk) for pk in pks],
        features,
    )
    return Window(
        start,
        end,
        table,
        [gap[pk][4] for pk in pks],
        np.asarray([gap[pk][2] for pk in pks], dtype=np.int64),
        pks,
    )


def _sums(table: PairTable, members: NDArray[np.bool_]) -> tuple[WeightedSums, WeightedSums]:
    s = sums_of(table, members) if len(table) else np.zeros(10)
    return WeightedSums.of(s[GAP]), WeightedSums.of(s[NOISE])


def _global_noise(table: PairTable) -> WeightedSums:
    return _sums(table, np.ones(len(table), dtype=bool))[1]


def _cheap_share(session: Session, start: datetime, end: datetime) -> float:
    te = models.TrafficEvent
    total, cheap = session.execute(
        select(func.count(), func.count().filter(te.is_cheap.is_(True))).where(
            te.occurred_at >= start, te.occurred_at < end
        )
    ).one()
    return int(cheap) / int(total) if total else 1.0


def _describe(
    found: FoundSlice,
    window: Window,
    previous: Window,
    cheap_share: float,
) -> dict[str, Any]:
    before_members = members_of(previous.table, found.conditions)
    gap, noise = _sums(previous.table, before_members)
    before = excess_gap(gap, noise, _global_noise(previous.table))
    rose = (
        compare(window.table, found.members, previous.table, before_members)
        if before.gap_pairs
        else None
    )
    segments = Counter(window.segment_ids[found.members].tolist())
    return {
        "after": found.excess,
        "before": excess_dict(before),
        "complement": found.complement,
        "rose": rose,
        "difference": found.difference,
        "z": found.z,
        "p_value": found.p_value,
        "q_value": found.q_value,
        "share_of_cheap": found.traffic_share,
        "traffic_share": found.traffic_share * cheap_share,
        "example_event_ids": found.example_event_ids,
        "segment_id": int(segments.most_common(1)[0][0]) if segments else None,
        "window": {"start": window.start.isoformat(), "end": window.end.isoformat()},
        "previous_window": {"start": previous.start.isoformat(), "end": previous.end.isoformat()},
    }


def discover(
    session: Session, settings: Settings, end: datetime | None = None, now: datetime | None = None
) -> RunSummary:
    """One discovery run (module doc) over the window ending at ``end`` (default: the
    event-time watermark, so replayed and backfilled traffic is read like live traffic).
    ``now`` (default the wall clock) stamps the records and alerts. Returns what it found and
    confirmed."""
    now = now or datetime.now(UTC)
    started = datetime.now(UTC)
    end = end or window_end(session, now)
    span = timedelta(days=settings.slice_window_days)
    window = load_window(session, end - span, end)
    previous = load_window(session, end - 2 * span, end - span)
    result = search(window.table, params_from(settings))
    cheap_share = _cheap_share(session, window.start, window.end)
    summary = RunSummary(window.start, window.end, len(window.table), result.tested)

    session.execute(update(models.Slice).where(models.Slice.active.is_(True)).values(active=False))
    for found in result.slices:
        details = _describe(found, window, previous, cheap_share)
        record = _upsert(session, found, details, window, now)
        summary.found.append(record.id)
    _confirm(session, settings, end, now, summary)
    summary.seconds = (datetime.now(UTC) - started).total_seconds()
    return summary


def _upsert(
    session: Session, found: FoundSlice, details: dict[str, Any], window: Window, now: datetime
) -> models.Slice:
    key = slice_key(found.conditions)
    record = session.scalar(select(models.Slice).where(models.Slice.key == key).with_for_update())
    fields = {
        "active": True,
        "last_found_at": now,
        "score": found.score,
        "traffic_share": details["traffic_share"],
        "n": found.n,
        "details": details,
    }
    if record is None:
        record = models.Slice(
            key=key,
            conditions=[{"feature": f, "value": v} for f, v in found.conditions],
            status=SliceStatus.FOUND,
            first_found_at=now,
            window_start=window.start,
            window_end=window.end,
            confirmation=None,
            **fields,
        )
        session.add(record)
        session.flush()
        return record
    for name, value in fields.items():
        setattr(record, name, value)
    if record.status != SliceStatus.FOUND and _new_finding(session, record, window):
        record.status = SliceStatus.FOUND
        record.window_start, record.window_end = window.start, window.end
        record.confirmation, record.confirmed_at, record.alert_id = None, None, None
    return record


def _new_finding(session: Session, record: models.Slice, window: Window) -> bool:
    """Found again on data disjoint from everything its last finding and confirmation used,
    and without an unresolved alert: only then does it start over (and may alert again)."""
    used_until = record.window_end
    if record.confirmation and record.confirmation.get("data_end"):
        used_until = max(used_until, datetime.fromisoformat(record.confirmation["data_end"]))
    if window.start < used_until:
        return False
    alert = session.get(models.Alert, record.alert_id) if record.alert_id else None
    return alert is None or alert.status == AlertStatus.RESOLVED


def _confirm(
    session: Session, settings: Settings, end: datetime, now: datetime, summary: RunSummary
) -> None:
    from shadowgap.alerts.lifecycle import (
        open_slice_alert,  # alerts use service, not the other way round
    )

    pending = list(
        session.scalars(
            select(models.Slice)
            .where(models.Slice.status == SliceStatus.FOUND, models.Slice.window_end < end)
            .order_by(models.Slice.id)
        )
    )
    if not pending:
        return
    later = load_window(session, min(s.window_end for s in pending), end)
    occurred = np.asarray([t.timestamp() for t in later.occurred_at], dtype=np.float64)
    # Most significant first; rows of slices confirmed before (open alerts) are left out, so a
    # slice that only overlaps an already-alerted problem does not alert for it again.
    covered = np.zeros(len(later.table), dtype=bool)
    for other in session.scalars(select(models.Slice).where(models.Slice.alert_id.is_not(None))):
        covered |= members_of(later.table, [(c["feature"], c["value"]) for c in other.conditions])
    pending.sort(key=lambda s: -float((s.details or {}).get("z") or 0.0))
    for record in pending:
        after_end = occurred >= record.window_end.timestamp()
        conditions = [(c["feature"], c["value"]) for c in record.conditions]
        members = members_of(later.table, conditions) & after_end & ~covered
        n = int(members.sum())
        if (
            n < settings.slice_min_pairs
            or int((after_end & ~members).sum()) < settings.slice_min_pairs
        ):
            continue
        test = compare(later.table, members, later.table, after_end & ~members)
        gap, noise = _sums(later.table, members)
        estimate = excess_gap(gap, noise, _global_noise(later.table))
        record.confirmation = {
            **test,
            "threshold_z": float(stats.norm.isf(settings.slice_confirm_alpha)),
            "alpha": settings.slice_confirm_alpha,
            "n": n,
            "excess": excess_dict(estimate),
            "data_start": record.window_end.isoformat(),
            "data_end": end.isoformat(),
        }
        if test["p_value"] <= settings.slice_confirm_alpha:
            record.status = SliceStatus.CONFIRMED
            record.confirmed_at = now
            covered |= members
            segment_id = _primary_segment(later, members) or record.details.get("segment_id")
            if segment_id is not None:
                summary.delivery_ids += open_slice_alert(
                    session, record, int(segment_id), settings, now
                )
            summary.confirmed.append(record.id)
        else:
            record.status = SliceStatus.UNCONFIRMED
            summary.unconfirmed.append(record.id)


def _primary_segment(window: Window, members: NDArray[np.bool_]) -> int | None:
    counts = Counter(window.segment_ids[members].tolist())
    return int(counts.most_common(1)[0][0]) if counts else None


def list_slices(session: Session, active_only: bool = True, limit: int = 50) -> list[models.Slice]:
    """Slices by score; by default those of the latest run."""
    query = select(models.Slice)
    if active_only:
        query = query.where(models.Slice.active.is_(True))
    return list(session.scalars(query.order_by(models.Slice.score.desc()).limit(limit)))
