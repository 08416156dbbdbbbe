"""Judged pairs as battles for router retraining, in the Chatbot-Arena shape.

RouteLLM-style routers learn from pairwise preference data: one prompt, two models' answers and
which one won. Each 'gap' verdict is such a battle between the cheap model (``model_a``, the
answer the router served) and the flagship (``model_b``, its shadow re-run), with the judge's
call as the winner: ``model_a``, ``model_b`` or ``tie``. Each line also carries the Hajek weight
``1 / inclusion_probability`` (small segments are over-sampled: weight the battles to get the
production mix back) and the router's score when the event had one.

The texts are what shadowgap stored: with redaction on, the redacted texts.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from shadowgap.db.models import Segment, ShadowRun, TrafficEvent, Verdict
from shadowgap.enums import RunStatus, VerdictKind
from shadowgap.schemas import answer_display, last_user_text

WINNERS = {"cheap": "model_a", "flagship": "model_b", "tie": "tie"}
# Rows fetched per round trip while streaming.
CHUNK = 1000


def battles(
    session: Session, since: datetime, until: datetime, segment_id: int | None = None
) -> Iterator[dict[str, Any]]:
    """Battles of the judged pairs whose request happened in ``[since, until)``."""
    E, V, R = TrafficEvent, Verdict, ShadowRun
    query = (
        select(V, E, R.model, R.answer, R.answer_tool_calls, Segment.key)
        .join(E, E.id == V.event_pk)
        .join(R, and_(R.event_pk == V.event_pk, R.replicate == 0, R.status == RunStatus.OK))
        .join(Segment, Segment.id == V.segment_id)
        .where(
            V.kind == VerdictKind.GAP,
            E.occurred_at >= since,
            E.occurred_at < until,
            E.answer.is_not(None),
            R.answer.is_not(None),
        )
        .order_by(V.id)
        .execution_options(yield_per=CHUNK)
    )
    if segment_id is not None:
        query = query.where(V.segment_id == segment_id)
    for verdict, event, flagship_model, flagship_answer, flagship_calls, key in session.execute(
        query
    ):
        if verdict.winner not in WINNERS:
            continue
        probability = verdict.inclusion_probability
        yield {
            "question_id": event.event_id,
            "prompt": last_user_text((event.request or {}).get("messages")),
            "model_a": event.route_model,
            "model_b": flagship_model,
            # A tool-call answer as its calls, name(arguments), one a line.
            "response_a": answer_display(event.answer, event.answer_tool_calls),
            "response_b": answer_display(flagship_answer, flagship_calls),
            "winner": WINNERS[verdict.winner],
            "weight": 1.0 / probability if probability and probability > 0 else None,
            "router_score": event.route_score,
            "segment": key,
            "judge": verdict.judge,
            "tstamp": event.occurred_at.timestamp(),
        }
