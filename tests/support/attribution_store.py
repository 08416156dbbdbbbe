"""Write a synthetic period into the database: events, and 'gap' verdicts for the judged ones."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
from sqlalchemy.orm import Session

from shadowgap.attribution.periods import Period
from shadowgap.db.models import Segment, TrafficEvent, Verdict


def store_period(
    session: Session,
    segment: Segment,
    period: Period,
    start: datetime,
    step: timedelta,
    prefix: str,
    prompts: list[str] | None = None,
) -> list[int]:
    """Insert every event of ``period`` (one ``step`` apart from ``start``); their ids."""
    events = []
    for i in range(len(period)):
        cheap = bool(period.cheap[i])
        score = float(period.score[i])
        events.append(
            TrafficEvent(
                event_id=f"{prefix}-{i}",
                segment_id=segment.id,
                source_format="native",
                occurred_at=start + step * i,
                route_tier="cheap" if cheap else "flagship",
                route_model="small-model" if cheap else "big-model",
                route_score=score if np.isfinite(score) else None,
                is_cheap=cheap,
                request={
                    "messages": [
                        {
                            "role": "user",
                            "content": prompts[i % len(prompts)] if prompts else f"q{i}",
                        }
                    ]
                },
                prompt_hash=f"{prefix}{i}",
                answer=f"answer {i}",
                latency_ms=float(period.latency[i]),
                cost_usd=float(period.cost[i]),
                status="ok",
                escalated=bool(period.escalated[i]),
                attributes={},
            )
        )
    session.add_all(events)
    session.flush()
    verdicts = [
        Verdict(
            event_pk=event.id,
            segment_id=segment.id,
            kind="gap",
            judge="answer-match",
            winner="flagship" if period.flagship_won[i] else "tie",
            gap_score=1.0 if period.flagship_won[i] else 0.0,
            inclusion_probability=1.0 / float(period.verdict_weight[i]),
            raw={},
            rationale="",
        )
        for i, event in enumerate(events)
        if period.verdict_weight[i] > 0
    ]
    session.add_all(verdicts)
    segment.event_count = (segment.event_count or 0) + len(events)
    session.flush()
    return [event.id for event in events]
