"""One period of a segment's traffic, as column arrays: what attribution computes from.

A period is every mirrored event of the segment inside a window (event-id bounds, time bounds
or both), each with its router score (NaN when the router sent none), whether it went cheap,
its router-reported cost and latency, whether a cascade escalated it, and -- for the
cheap-routed events that were sampled and judged -- the 'gap' verdict's outcome and Hajek
weight ``1 / inclusion_probability``. Unjudged events carry weight 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from shadowgap.db.models import TrafficEvent, Verdict
from shadowgap.enums import VerdictKind, Winner

# A period never loads more events than this (the latest ones win): attribution over a busy
# segment's week stays a few MB of arrays and a second of bootstrap.
MAX_PERIOD_EVENTS = 200_000
# Smallest inclusion probability honoured, as in the quality signal.
_MIN_PROBABILITY = 1e-6


@dataclass(frozen=True)
class Window:
    """Event-id bounds (both inclusive) and/or time bounds ``[start, end)``; each optional."""

    first_id: int | None = None
    last_id: int | None = None
    start: datetime | None = None
    end: datetime | None = None

    def describe(self) -> dict[str, object]:
        return {
            "first_event_pk": self.first_id,
            "last_event_pk": self.last_id,
            "start": self.start.isoformat() if self.start else None,
            "end": self.end.isoformat() if self.end else None,
        }


@dataclass(frozen=True)
class Period:
    """Column arrays of one period's events (all the same length)."""

    score: np.ndarray  # float, NaN without a router score
    cheap: np.ndarray  # float 0/1
    verdict_weight: np.ndarray  # 1 / inclusion_probability of the 'gap' verdict, 0 if none
    flagship_won: np.ndarray  # float 0/1, 0 without a verdict
    cost: np.ndarray  # float, NaN when the router reported none
    latency: np.ndarray  # float ms, NaN when unknown
    escalated: np.ndarray  # float 0/1
    # How many events each row stands for (None: one each). Set on a thinned copy, whose
    # unjudged rows are a random subsample standing for all of them.
    event_weight: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.cheap.shape[0])

    @property
    def judged(self) -> int:
        return int(np.count_nonzero(self.verdict_weight))

    def rows(self, keep: np.ndarray, weight: np.ndarray) -> Period:
        """The rows ``keep`` (indices), each standing for ``weight`` events."""
        return Period(
            score=self.score[keep],
            cheap=self.cheap[keep],
            verdict_weight=self.verdict_weight[keep],
            flagship_won=self.flagship_won[keep],
            cost=self.cost[keep],
            latency=self.latency[keep],
            escalated=self.escalated[keep],
            event_weight=weight,
        )

    @classmethod
    def from_rows(
        cls,
        rows: list[
            tuple[float | None, bool, float | None, float | None, bool, str | None, float | None]
        ],
    ) -> Period:
        """From ``(score, is_cheap, cost, latency, escalated, winner, inclusion_probability)``."""

        def column(i: int) -> np.ndarray:
            return np.array([np.nan if r[i] is None else r[i] for r in rows], dtype=float)

        probability = np.array(
            [r[6] if r[5] is not None and r[6] is not None else 0.0 for r in rows], dtype=float
        )
        judged = probability > 0
        weight = np.zeros(len(rows))
        weight[judged] = 1.0 / np.clip(probability[judged], _MIN_PROBABILITY, 1.0)
        won = np.array([1.0 if r[5] == Winner.FLAGSHIP else 0.0 for r in rows]) * judged
        return cls(
            score=column(0),
            cheap=np.array([1.0 if r[1] else 0.0 for r in rows]),
            verdict_weight=weight,
            flagship_won=won,
            cost=column(2),
            latency=column(3),
            escalated=np.array([1.0 if r[4] else 0.0 for r in rows]),
        )


def load_period(session: Session, segment_id: int, window: Window) -> Period:
    """The segment's events in ``window`` with their 'gap' verdicts (latest first if capped)."""
    E, V = TrafficEvent, Verdict
    query = (
        select(
            E.route_score,
            E.is_cheap,
            E.cost_usd,
            E.latency_ms,
            E.escalated,
            V.winner,
            V.inclusion_probability,
        )
        .outerjoin(V, and_(V.event_pk == E.id, V.kind == VerdictKind.GAP))
        .where(E.segment_id == segment_id)
    )
    if window.first_id is not None:
        query = query.where(E.id >= window.first_id)
    if window.last_id is not None:
        query = query.where(E.id <= window.last_id)
    if window.start is not None:
        query = query.where(E.occurred_at >= window.start)
    if window.end is not None:
        query = query.where(E.occurred_at < window.end)
    rows = session.execute(query.order_by(E.id.desc()).limit(MAX_PERIOD_EVENTS)).all()
    return Period.from_rows([tuple(r) for r in reversed(rows)])  # type: ignore[misc]


def window_before(session: Session, segment_id: int, first_id: int, n: int) -> Window:
    """The segment's ``n`` events just before event ``first_id`` (fewer if it has fewer)."""
    lower = session.scalar(
        select(TrafficEvent.id)
        .where(TrafficEvent.segment_id == segment_id, TrafficEvent.id < first_id)
        .order_by(TrafficEvent.id.desc())
        .offset(max(n, 1) - 1)
        .limit(1)
    )
    return Window(first_id=lower, last_id=first_id - 1)


def events_in(session: Session, segment_id: int, window: Window) -> int:
    """How many of the segment's events fall in ``window`` (id bounds only)."""
    query = (
        select(func.count()).select_from(TrafficEvent).where(TrafficEvent.segment_id == segment_id)
    )
    if window.first_id is not None:
        query = query.where(TrafficEvent.id >= window.first_id)
    if window.last_id is not None:
        query = query.where(TrafficEvent.id <= window.last_id)
    return int(session.scalar(query) or 0)
