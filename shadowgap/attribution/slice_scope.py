"""The evidence behind a proposal for a confirmed discovered slice.

A slice (``shadowgap.db.models.Slice``) is a conjunction of ``(feature, value)`` conditions on
the slice features stored per event (``slice_features``); it cuts across segments. Attribution
sits below ``shadowgap.slices`` (ARCHITECTURE.md), so this reads the tables through
``shadowgap.db.models`` and matches the stored features itself: the same rule as discovery's
(every condition holds; a list-valued feature such as ``tag`` holds when it contains the value).

``cadence`` is matched as ingest recorded it: the class of the request's user over the
discovery window before the request (``shadowgap.slices.cadence``), so a cadence slice gets a
threshold proposal whose rule says how the class is computed; a router cannot see it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from shadowgap.attribution.periods import MAX_PERIOD_EVENTS, Period, Window
from shadowgap.attribution.thresholds import JudgedPairs
from shadowgap.db.models import Slice, SliceFeatures, TrafficEvent, Verdict
from shadowgap.db.slice_match import holds
from shadowgap.enums import SliceStatus, VerdictKind, Winner

# Features a router can be told to match (the request's own attributes).
ROUTER_VISIBLE_FEATURES = ("tenant", "team", "api_key_alias", "route_model", "tag")

Condition = tuple[str, str]


@dataclass(frozen=True)
class SliceScope:
    id: int
    key: str
    conditions: list[Condition]
    alert_id: int | None


@dataclass(frozen=True)
class SliceEvidence:
    period: Period
    pairs: JudgedPairs
    cheap_model: str | None
    flagship_model: str | None


def confirmed_slices(session: Session, key: str | None = None) -> list[SliceScope]:
    """The active confirmed slices (only the one keyed ``key`` when given)."""
    query = select(Slice.id, Slice.key, Slice.conditions, Slice.alert_id).where(
        Slice.status == SliceStatus.CONFIRMED, Slice.active.is_(True)
    )
    if key is not None:
        query = query.where(Slice.key == key)
    found = []
    for slice_id, slice_key, conditions, alert_id in session.execute(query.order_by(Slice.id)):
        pairs = [(str(c[0]), str(c[1])) for c in conditions or []]
        if pairs:
            found.append(SliceScope(slice_id, slice_key, pairs, alert_id))
    return found


def router_conditions(conditions: Sequence[Condition]) -> dict[str, str] | None:
    """The slice's conditions as segment-style dimensions when a router can match every one,
    else None. A tag ``k=v`` becomes dimension ``tag:k=`` with value ``v`` (a tag without ``=``
    dimension ``tag:``), as a tag segment dimension is written."""
    if not all(name in ROUTER_VISIBLE_FEATURES for name, _ in conditions):
        return None
    return dimensions_of(conditions)


def dimensions_of(conditions: Sequence[Condition]) -> dict[str, str]:
    """The conditions as a ``{dimension: value}`` mapping (tags as in :func:`router_conditions`)."""
    dimensions: dict[str, str] = {}
    for name, value in conditions:
        if name == "tag":
            prefix, sep, rest = value.partition("=")
            dimensions[f"tag:{prefix}{sep}" if sep else "tag:"] = rest if sep else value
        else:
            dimensions[name] = value
    return dimensions


def _in_window(query: Any, window: Window) -> Any:
    if window.start is not None:
        query = query.where(SliceFeatures.occurred_at >= window.start)
    if window.end is not None:
        query = query.where(SliceFeatures.occurred_at < window.end)
    return query


def slice_evidence(session: Session, scope: SliceScope, window: Window) -> SliceEvidence:
    """The slice's events in ``window`` (the latest ``MAX_PERIOD_EVENTS`` matching) with their
    'gap' verdicts, and its forward and reverse-shadow pairs with a router score."""
    E, V, F = TrafficEvent, Verdict, SliceFeatures
    events = (
        select(
            F.features,
            E.route_model,
            E.route_score,
            E.is_cheap,
            E.cost_usd,
            E.latency_ms,
            E.escalated,
            V.winner,
            V.inclusion_probability,
        )
        .select_from(F)
        .join(E, E.id == F.event_pk)
        .outerjoin(V, and_(V.event_pk == E.id, V.kind == VerdictKind.GAP))
        .order_by(E.id.desc())
    )
    rows = []
    models: dict[bool, Counter[str]] = {True: Counter(), False: Counter()}
    for features, model, *row in session.execute(_in_window(events, window)):
        if holds(features, scope.conditions):
            rows.append(tuple(row))
            models[bool(row[1])][model] += 1
            if len(rows) >= MAX_PERIOD_EVENTS:
                break
    period = Period.from_rows(list(reversed(rows)))  # type: ignore[arg-type]
    judged = (
        select(F.features, E.route_score, V.winner, V.inclusion_probability, V.kind)
        .select_from(F)
        .join(E, E.id == F.event_pk)
        .join(V, V.event_pk == E.id)
        .where(
            V.kind.in_((VerdictKind.GAP, VerdictKind.REVERSE)),
            V.inclusion_probability > 0,
            E.route_score.is_not(None),
        )
    )
    kept = [
        r[1:] for r in session.execute(_in_window(judged, window)) if holds(r[0], scope.conditions)
    ]
    pairs = JudgedPairs(
        score=np.array([r[0] for r in kept], dtype=float),
        flagship_won=np.array([1.0 if r[1] == Winner.FLAGSHIP else 0.0 for r in kept]),
        weight=np.array([1.0 / min(1.0, r[2]) for r in kept], dtype=float),
        reverse=np.array([r[3] == VerdictKind.REVERSE for r in kept], dtype=bool),
    )
    top = {k: (c.most_common(1)[0][0] if c else None) for k, c in models.items()}
    return SliceEvidence(period, pairs, top[True], top[False])
