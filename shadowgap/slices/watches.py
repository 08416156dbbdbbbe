"""The exploration cycle on the database: slices under watch (``slice_watches``), run after each
discovery run on the same window, and the boosts ingest reads.

One cycle (:func:`explore`), with the window ``[end - slice_window_days, end)``:

1. review every watched slice on the judged pairs after its nomination; a confirmed one
   becomes a ``confirmed`` slice (``slices``) and opens its slice alert, as discovery's do;
2. nominate new ones from the window's pairs (:func:`shadowgap.slices.exploration.nominate`);
3. split the exploration budget (``slice_exploration_share`` of the sampling budget, in
   requests a day of the window's traffic) among the watched slices as boosts.

The pure logic is :mod:`shadowgap.slices.exploration`; this module only loads and stores.
Domain functions take the session first and never commit.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shadowgap.config import Settings
from shadowgap.db import models
from shadowgap.enums import EventStatus, SliceStatus
from shadowgap.slices import exploration as ex
from shadowgap.slices import movers as mv
from shadowgap.slices.discovery import load_window, params_from, slice_key
from shadowgap.slices.lattice import excess_dict, members_of, sums_of
from shadowgap.stats.excess_gap import WeightedSums, excess_gap

# Ingest re-reads the boosts at most this often (they change once an hour).
BOOST_REFRESH_SECONDS = 60.0


@dataclass
class ExploreSummary:
    watching: list[str] = field(default_factory=list)  # keys
    nominated: list[str] = field(default_factory=list)
    confirmed: list[int] = field(default_factory=list)  # slice ids
    cleared: list[str] = field(default_factory=list)
    delivery_ids: list[int] = field(default_factory=list)


def _to_watched(row: models.SliceWatch) -> ex.Watched:
    return ex.Watched(
        conditions=[(c["feature"], c["value"]) for c in row.conditions],
        nominated_at=row.nominated_at,
        volume_per_day=row.volume_per_day,
        evidence=dict(row.evidence or {}),
        boost=row.boost,
        source=str((row.evidence or {}).get("source", "judged")),
        status=ex.WatchStatus(row.status),
        looks_done=row.looks_done,
        pairs=row.pairs,
        decided_at=row.decided_at,
        last_test=dict(row.last_test or {}),
    )


def _store(row: models.SliceWatch, watched: ex.Watched) -> None:
    row.conditions = [{"feature": f, "value": v} for f, v in watched.conditions]
    row.status = str(watched.status)
    row.nominated_at = watched.nominated_at
    row.decided_at = watched.decided_at
    row.volume_per_day = watched.volume_per_day
    row.boost = watched.boost
    row.evidence = {**watched.evidence, "source": watched.source}
    row.looks_done = watched.looks_done
    row.pairs = watched.pairs
    row.last_test = watched.last_test or None


def exploration_per_day(
    session: Session, settings: Settings, start: datetime, end: datetime
) -> float:
    """The exploration budget in sampled requests a day: the share of the sampling budget
    applied to the window's traffic (all requests, as the budget is)."""
    te = models.TrafficEvent
    events = session.scalar(
        select(func.count()).where(te.occurred_at >= start, te.occurred_at < end)
    )
    days = max((end - start).total_seconds() / 86400.0, 1e-9)
    return (
        settings.slice_exploration_share
        * settings.sampling_budget_fraction
        * float(events or 0)
        / days
    )


def traffic_movers(session: Session, end: datetime) -> list[mv.Mover]:
    """Feature values whose traffic share, routing share or error rate moved in the last
    ``movers.RECENT_DAYS`` against the ``movers.REFERENCE_DAYS`` before
    (:mod:`shadowgap.slices.movers`), from the features stored at ingest for every request."""
    sf, te = models.SliceFeatures, models.TrafficEvent
    split = end - timedelta(days=mv.RECENT_DAYS)
    start = split - timedelta(days=mv.REFERENCE_DAYS)
    query = (
        select(sf.features, sf.occurred_at, te.route_tier, te.status)
        .join(te, te.id == sf.event_pk)
        .where(sf.occurred_at >= start, sf.occurred_at < end)
    )
    recent: list[tuple[dict[str, Any], bool, bool]] = []
    reference: list[tuple[dict[str, Any], bool, bool]] = []
    for features, occurred, tier, status in session.execute(query):
        row = (dict(features or {}), tier == "cheap", status == EventStatus.ERROR)
        (recent if occurred >= split else reference).append(row)
    if not recent or not reference:
        return []
    return mv.movers(mv.count(recent), mv.count(reference), len(recent), len(reference))


def explore(session: Session, settings: Settings, end: datetime, now: datetime) -> ExploreSummary:
    """One exploration cycle over the window ending at ``end`` (module doc)."""
    summary = ExploreSummary()
    rows = {row.key: row for row in session.scalars(select(models.SliceWatch))}
    live = {
        key: _to_watched(row) for key, row in rows.items() if row.status == ex.WatchStatus.WATCHING
    }
    watched = list(live.values())
    if watched:
        since = min(w.nominated_at for w in watched)
        later = load_window(session, since, end)
        occurred = np.asarray([t.timestamp() for t in later.occurred_at], dtype=np.float64)
        alpha = ex.confirm_alpha(settings)
        for w in ex.review(watched, later.table, occurred, end, alpha):
            record = _confirmed_slice(session, w, later, occurred, now)
            rows[w.key].slice_id = record.id
            summary.confirmed.append(record.id)
            segment_id = record.details.get("segment_id")
            if segment_id is not None:
                from shadowgap.alerts.lifecycle import open_slice_alert  # alerts sit above

                summary.delivery_ids += open_slice_alert(
                    session, record, int(segment_id), settings, now
                )

    span = timedelta(days=settings.slice_window_days)
    window = load_window(session, end - span, end)
    cleared_at = {
        key: row.decided_at
        for key, row in rows.items()
        if row.status == ex.WatchStatus.CLEARED and row.decided_at is not None
    }
    cleared_at.update(
        {
            w.key: w.decided_at
            for w in watched
            if w.decided_at and w.status == ex.WatchStatus.CLEARED
        }
    )
    alerted = set(
        session.scalars(select(models.Slice.key).where(models.Slice.alert_id.is_not(None)))
    )
    week_ago = end - timedelta(days=7)
    recent = sum(1 for row in rows.values() if row.nominated_at >= week_ago)
    newcomers = ex.nominate(
        window.table,
        watched,
        window.start,
        end,
        params_from(settings),
        cleared_at,
        alerted,
        nominated_last_week=recent,
        movers=traffic_movers(session, end),
        preempt_margin=settings.slice_preempt_margin,
    )
    summary.nominated = [w.key for w in newcomers]
    summary.cleared = [w.key for w in watched if w.status == ex.WatchStatus.CLEARED]
    ex.set_boosts(watched, exploration_per_day(session, settings, window.start, end))
    for w in watched:
        row = rows.get(w.key)
        if row is None:
            row = models.SliceWatch(key=w.key)
            session.add(row)
            rows[w.key] = row
        elif w in newcomers:
            row.slice_id = None  # nominated again: a new watch in the same row
        _store(row, w)
    summary.watching = [w.key for w in watched if w.status == ex.WatchStatus.WATCHING]
    session.flush()
    return summary


def _confirmed_slice(
    session: Session, watched: ex.Watched, later: Any, occurred: np.ndarray, now: datetime
) -> models.Slice:
    """The ``slices`` row a confirmed watch alerts as (created, or taken over by key)."""
    after = occurred >= watched.nominated_at.timestamp()
    members = members_of(later.table, watched.conditions) & after
    rest = after & ~members
    inside, outside = sums_of(later.table, members), sums_of(later.table, rest)
    noise = WeightedSums.of((inside + outside)[5:10])
    estimate = excess_gap(WeightedSums.of(inside[0:5]), WeightedSums.of(inside[5:10]), noise)
    complement = excess_gap(WeightedSums.of(outside[0:5]), WeightedSums.of(outside[5:10]), noise)
    share = float(inside[1] / max(inside[1] + outside[1], 1e-9))
    segments = later.segment_ids[members].tolist()
    segment_id = max(set(segments), key=segments.count) if segments else None
    rows_in = np.flatnonzero(members)[::-1]
    test = watched.last_test
    details = {
        "after": excess_dict(estimate),
        "before": None,
        "complement": excess_dict(complement),
        "rose": None,
        "difference": test.get("difference"),
        "z": test.get("z"),
        "p_value": test.get("p_value"),
        "q_value": None,
        "share_of_cheap": share,
        "traffic_share": share,
        "example_event_ids": [later.table.event_ids[i] for i in rows_in[:3]],
        "segment_id": int(segment_id) if segment_id is not None else None,
        "window": {
            "start": watched.nominated_at.isoformat(),
            "end": later.end.isoformat(),
        },
        "explored": {"nominated_at": watched.nominated_at.isoformat(), **watched.evidence},
    }
    confirmation = {
        **test,
        "n": watched.pairs,
        "alpha": watched.last_test.get("alpha"),
        "data_start": watched.nominated_at.isoformat(),
        "data_end": later.end.isoformat(),
        "how": "exploration: watched slice tested on pairs after its nomination",
    }
    key = slice_key(watched.conditions)
    record = session.scalar(select(models.Slice).where(models.Slice.key == key).with_for_update())
    if record is None:
        record = models.Slice(
            key=key,
            conditions=[{"feature": f, "value": v} for f, v in watched.conditions],
            first_found_at=now,
            active=False,
        )
        session.add(record)
    record.status = SliceStatus.CONFIRMED
    record.last_found_at = now
    record.confirmed_at = now
    record.window_start = watched.nominated_at
    record.window_end = later.end
    record.score = float(test.get("difference") or 0.0) * share
    record.traffic_share = share
    record.n = watched.pairs
    record.details = details
    record.confirmation = confirmation
    if record.alert_id is not None:
        alert = session.get(models.Alert, record.alert_id)
        if alert is None or alert.status == "resolved":
            record.alert_id = None
    session.flush()
    return record


def watching(session: Session, now: datetime) -> list[dict[str, Any]]:
    """The slices under watch, for the API and the Slices page."""
    out = []
    rows = session.scalars(
        select(models.SliceWatch)
        .where(models.SliceWatch.status == str(ex.WatchStatus.WATCHING))
        .order_by(models.SliceWatch.nominated_at)
    )
    for row in rows:
        w = _to_watched(row)
        days = max((now - w.nominated_at).total_seconds() / 86400.0, 0.0)
        # The pairs' rate so far, or (just nominated) what the boost alone should bring.
        rate = w.pairs / days if days >= 1.0 and w.pairs else w.boost * w.volume_per_day
        out.append(
            {
                "key": row.key,
                "conditions": row.conditions,
                "nominated_at": row.nominated_at,
                "pairs": w.pairs,
                "next_look_pairs": ex.CHECKS[w.looks_done]
                if w.looks_done < len(ex.CHECKS)
                else None,
                "evidence": w.evidence,
                "boost": w.boost,
                "last_test": w.last_test or None,
                "expected_days_to_decision": w.expected_days_to_decision(rate),
            }
        )
    return out


def exploration_share(session: Session, segment_id: int) -> float | None:
    """Share of a segment's shadow samples that only the exploration draw took (None: no
    samples): what exploration spent of the budget there."""
    sd = models.SamplingDecision
    total, explored = session.execute(
        select(func.count(), func.count().filter(sd.base_draw.is_(False))).where(
            sd.segment_id == segment_id
        )
    ).one()
    return int(explored) / int(total) if total else None


class BoostCache:
    """The watched slices with a boost, for ingest: re-read at most every
    ``BOOST_REFRESH_SECONDS`` (a process-wide cache; the writer thread and API workers share
    it under a lock)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._value: list[ex.Watched] = []
        self._read_at = -1e18

    def get(self, session: Session) -> list[ex.Watched]:
        with self._lock:
            if time.monotonic() - self._read_at < BOOST_REFRESH_SECONDS:
                return self._value
        rows = session.scalars(
            select(models.SliceWatch).where(
                models.SliceWatch.status == str(ex.WatchStatus.WATCHING),
                models.SliceWatch.boost > 0,
            )
        )
        value = [_to_watched(row) for row in rows]
        with self._lock:
            self._value, self._read_at = value, time.monotonic()
        return value

    def clear(self) -> None:
        with self._lock:
            self._value, self._read_at = [], -1e18


boost_cache = BoostCache()
