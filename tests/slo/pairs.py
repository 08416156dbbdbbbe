"""Judged pairs spread over event time, at a chosen flagship-win rate, for the SLO tests."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from shadowgap.db.models import Segment, TrafficEvent, Verdict


def add_pairs(
    session: Session,
    segment: Segment,
    *,
    n: int,
    wins_per_10: int,
    end: datetime,
    days: float,
    noise_wins_per_10: int | None = None,
    tag: str = "",
) -> None:
    """``n`` cheap-routed events evenly over the ``days`` before ``end``, each with a 'gap'
    verdict the flagship wins ``wins_per_10`` times in 10 (and, when given, a 'noise' verdict
    it wins ``noise_wins_per_10`` times in 10), all sampled with probability 0.5."""
    step = timedelta(days=days) / n
    for i in range(n):
        event = TrafficEvent(
            event_id=f"{segment.key}-{tag}{i}",
            segment_id=segment.id,
            source_format="native",
            occurred_at=end - step * (n - i),
            route_tier="cheap",
            route_model="small-model",
            is_cheap=True,
            request={"messages": [{"role": "user", "content": f"q{i}"}]},
            prompt_hash=hashlib.sha256(f"{segment.key}{tag}{i}".encode()).hexdigest(),
            answer="a",
            latency_ms=100.0,
            status="ok",
            attributes={},
        )
        session.add(event)
        session.flush()
        kinds = [("gap", wins_per_10)]
        if noise_wins_per_10 is not None:
            kinds.append(("noise", noise_wins_per_10))
        for kind, wins in kinds:
            session.add(
                Verdict(
                    event_pk=event.id,
                    segment_id=segment.id,
                    kind=kind,
                    judge="answer-match",
                    winner="flagship" if i % 10 < wins else "cheap",
                    gap_score=0.0,
                    inclusion_probability=0.5,
                    raw={},
                    rationale="",
                )
            )
    session.flush()
