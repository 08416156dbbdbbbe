"""Shadow spend: a ledger of USD and tokens per UTC day, segment and kind (flagship | judge).

Every function takes ``session`` first and never commits: the calling job owns the transaction,
so a run and its cost land together or not at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from shadowgap.config import Settings
from shadowgap.db import models
from shadowgap.enums import CostKind

KINDS: tuple[CostKind, ...] = tuple(CostKind)


def utc_day(moment: datetime) -> date:
    """The UTC calendar day of an aware datetime (the ledger's day boundary)."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: the ledger's days are UTC")
    return moment.astimezone(UTC).date()


def record_cost(
    session: Session, day: date, segment_id: int, kind: CostKind, usd: float, tokens: int
) -> None:
    """Add one call's spend to the ledger row of (day, segment, kind), creating it if needed.

    An atomic upsert, so concurrent workers adding to the same row never lose an update.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown cost kind {kind!r}")
    values = {
        "day": day,
        "segment_id": segment_id,
        "kind": kind,
        "usd": float(usd),
        "tokens": int(tokens),
        "calls": 1,
    }
    dialect = session.get_bind().dialect.name
    if dialect in ("sqlite", "postgresql"):
        insert = sqlite.insert if dialect == "sqlite" else postgresql.insert
        stmt = insert(models.CostLedger).values(**values)
        table = models.CostLedger.__table__.c
        stmt = stmt.on_conflict_do_update(
            index_elements=[table.day, table.segment_id, table.kind],
            set_={
                "usd": table.usd + stmt.excluded.usd,
                "tokens": table.tokens + stmt.excluded.tokens,
                "calls": table.calls + stmt.excluded.calls,
            },
        )
        session.execute(stmt)
        return
    _record_cost_portable(session, day, segment_id, kind, float(usd), int(tokens))


def _record_cost_portable(
    session: Session, day: date, segment_id: int, kind: str, usd: float, tokens: int
) -> None:
    # Other dialects: lock the row if it exists, else insert (a rare race raises, and the job
    # is retried, rather than silently losing spend).
    row = session.scalars(
        select(models.CostLedger)
        .where(
            models.CostLedger.day == day,
            models.CostLedger.segment_id == segment_id,
            models.CostLedger.kind == kind,
        )
        .with_for_update()
    ).one_or_none()
    if row is None:
        session.add(
            models.CostLedger(
                day=day, segment_id=segment_id, kind=kind, usd=usd, tokens=tokens, calls=1
            )
        )
    else:
        row.usd += usd
        row.tokens += tokens
        row.calls += 1
    session.flush()


def spent_on(session: Session, day: date) -> float:
    """USD spent on flagship runs and judging on one UTC day, all segments."""
    total = session.scalar(
        select(func.coalesce(func.sum(models.CostLedger.usd), 0.0)).where(
            models.CostLedger.day == day
        )
    )
    return float(total or 0.0)


def spent_today(session: Session, now: datetime) -> float:
    """USD spent so far on the UTC day of ``now``."""
    return spent_on(session, utc_day(now))


def budget_exhausted(session: Session, settings: Settings, now: datetime) -> bool:
    """True once today's spend reaches ``daily_budget_usd`` (never when no cap is set)."""
    if settings.daily_budget_usd is None:
        return False
    return spent_today(session, now) >= settings.daily_budget_usd


@dataclass(frozen=True, slots=True)
class SegmentCost:
    segment_id: int
    segment_key: str
    flagship_usd: float
    judge_usd: float
    tokens: int
    calls: int

    @property
    def total_usd(self) -> float:
        return self.flagship_usd + self.judge_usd


def costs_by_segment(session: Session, day: date) -> list[SegmentCost]:
    """Spend per segment on one UTC day, most expensive first."""
    ledger = models.CostLedger
    rows = session.execute(
        select(
            ledger.segment_id,
            models.Segment.key,
            ledger.kind,
            func.sum(ledger.usd),
            func.sum(ledger.tokens),
            func.sum(ledger.calls),
        )
        .join(models.Segment, models.Segment.id == ledger.segment_id)
        .where(ledger.day == day)
        .group_by(ledger.segment_id, models.Segment.key, ledger.kind)
    ).all()
    merged: dict[int, SegmentCost] = {}
    for segment_id, key, kind, usd, tokens, calls in rows:
        before = merged.get(segment_id) or SegmentCost(segment_id, key, 0.0, 0.0, 0, 0)
        merged[segment_id] = SegmentCost(
            segment_id=segment_id,
            segment_key=key,
            flagship_usd=before.flagship_usd + (float(usd or 0.0) if kind == "flagship" else 0.0),
            judge_usd=before.judge_usd + (float(usd or 0.0) if kind == "judge" else 0.0),
            tokens=before.tokens + int(tokens or 0),
            calls=before.calls + int(calls or 0),
        )
    result = list(merged.values())
    return sorted(result, key=lambda cost: (-cost.total_usd, cost.segment_id))
