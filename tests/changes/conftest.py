"""Fixtures for the router-change tests: a migrated-schema SQLite file and a traffic builder."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from shadowgap.config import Settings
from shadowgap.db.models import Segment, TrafficEvent, Verdict

# The SQLite file, its engine and sessions are drift tests' fixtures, shared here.
from tests.drift.conftest import db_url, engine, session_factory  # noqa: F401

T0 = datetime(2025, 1, 6, tzinfo=UTC)


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:  # noqa: F811 (the fixture, as an argument)
    return Settings(database_url=db_url, alert_outbox_dir=str(tmp_path / "outbox"))


class Traffic:
    """Writes a segment's events and judged pairs for a stretch of event time."""

    def __init__(self, session: Session, key: str, seed: int) -> None:
        self.session = session
        self.rng = random.Random(seed)
        self.segment = Segment(key=f"tenant={key}", dimensions={"tenant": key})
        session.add(self.segment)
        session.flush()
        self.n = 0

    def add(
        self,
        start: datetime,
        days: float,
        per_day: int,
        *,
        cheap_share: float = 0.8,
        win_rate: float = 0.2,
        noise_rate: float = 0.1,
        cheap_cost: float = 0.001,
        flagship_cost: float = 0.01,
        latency_ms: float = 400.0,
        probability: float = 0.3,
    ) -> None:
        count = int(days * per_day)
        step = timedelta(days=days) / count
        events, cheap = [], []
        for i in range(count):
            is_cheap = self.rng.random() < cheap_share
            self.n += 1
            event = TrafficEvent(
                event_id=f"{self.segment.key}-{self.n}",
                segment_id=self.segment.id,
                source_format="native",
                occurred_at=start + i * step,
                route_tier="cheap" if is_cheap else "flagship",
                route_model="small" if is_cheap else "big",
                is_cheap=is_cheap,
                request={"messages": []},
                prompt_hash=f"{self.n:064x}",
                latency_ms=self.rng.lognormvariate(0, 0.4) * latency_ms,
                cost_usd=cheap_cost if is_cheap else flagship_cost,
                status="ok",
                attributes={},
            )
            events.append(event)
            if is_cheap:
                cheap.append(event)
        self.session.add_all(events)
        # What ingest keeps on the segment row (the page's window ends at its last event).
        segment = self.segment
        segment.event_count = (segment.event_count or 0) + count
        segment.first_occurred_at = segment.first_occurred_at or events[0].occurred_at
        segment.last_occurred_at = events[-1].occurred_at
        self.session.flush()
        verdicts = []
        for event in cheap:
            if self.rng.random() >= probability:
                continue
            verdicts.append(self._verdict(event.id, "gap", win_rate, probability))
            if self.rng.random() < 0.2:
                verdicts.append(self._verdict(event.id, "noise", noise_rate, probability))
        self.session.add_all(verdicts)
        self.session.flush()

    def _verdict(self, event_pk: int, kind: str, rate: float, probability: float) -> Verdict:
        return Verdict(
            event_pk=event_pk,
            segment_id=self.segment.id,
            kind=kind,
            judge="answer-match",
            winner="flagship" if self.rng.random() < rate else "tie",
            gap_score=0.0,
            inclusion_probability=probability,
            raw={},
        )
