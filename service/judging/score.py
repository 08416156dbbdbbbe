"""The judge stage: turns an event's stored shadow runs into verdicts.

Kind 'gap' compares the cheap answer with the flagship's replicate 0; kind 'noise' compares
replicate 0 with replicate 1 (flagship vs flagship), the noise floor the gap is read against.
Each verdict carries the event's inclusion probability so weighted aggregates stay unbiased.
Takes ``session`` first and never commits.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from service import models
from service.config import Settings
from service.costs import record_cost, utc_day
from service.errors import NotFound
from service.judging.base import Judge
from service.llm.base import last_user_text
from service.schemas import Verdict
from service.shadow import STATUS_OK, insert_or_ignore, runs_for_event


def get_verdict(session: Session, event_pk: int, kind: str) -> models.Verdict | None:
    return session.scalars(
        select(models.Verdict).where(
            models.Verdict.event_pk == event_pk, models.Verdict.kind == kind
        )
    ).one_or_none()


def _inclusion_probability(session: Session, event_pk: int) -> float:
    probability = session.scalar(
        select(models.SamplingDecision.inclusion_probability).where(
            models.SamplingDecision.event_pk == event_pk
        )
    )
    # An event scored without a sampling decision (a manual re-score) stands for itself only.
    return float(probability) if probability is not None else 1.0


def _values(
    event: models.TrafficEvent, kind: str, verdict: Verdict, probability: float
) -> dict[str, Any]:
    return {
        "event_pk": event.id,
        "segment_id": event.segment_id,
        "kind": kind,
        "judge": verdict.judge,
        "judge_model": verdict.judge_model,
        "prompt_version": verdict.prompt_version,
        "winner": verdict.winner,
        "gap_score": max(-1.0, min(1.0, verdict.gap_score)),
        "inclusion_probability": probability,
        "raw": verdict.raw,
        "rationale": verdict.rationale,
        "prompt_tokens": verdict.prompt_tokens,
        "completion_tokens": verdict.completion_tokens,
        "cost_usd": verdict.cost_usd,
        "latency_ms": verdict.latency_ms,
        "created_at": models.utcnow(),
    }


def score_event(
    session: Session, event_pk: int, judge: Judge, settings: Settings
) -> list[models.Verdict]:
    """Judge the event's pairs and store one verdict per kind (idempotent per kind).

    Returns [] when replicate 0 is missing or failed, or when the cheap call itself errored
    (no cheap answer: that is the error-rate signal, not a quality gap). A failed replicate 1
    only drops the 'noise' verdict.
    """
    event = session.get(models.TrafficEvent, event_pk)
    if event is None:
        raise NotFound(f"traffic event {event_pk} not found")
    runs = runs_for_event(session, event_pk)
    primary = runs.get(0)
    if primary is None or primary.status != STATUS_OK or event.answer is None:
        return []
    question = last_user_text((event.request or {}).get("messages") or [])
    pairs = [("gap", event.answer, primary.answer or "")]
    repeat = runs.get(1)
    if repeat is not None and repeat.status == STATUS_OK:
        pairs.append(("noise", repeat.answer or "", primary.answer or ""))
    probability = _inclusion_probability(session, event_pk)
    stored: list[models.Verdict] = []
    for kind, cheap, flagship in pairs:
        existing = get_verdict(session, event_pk, kind)
        if existing is None:
            verdict = judge.judge(question, cheap, flagship)
            values = _values(event, kind, verdict, probability)
            if insert_or_ignore(session, models.Verdict, values, ["event_pk", "kind"]):
                _book_judge_cost(session, event.segment_id, verdict, values["created_at"])
            existing = get_verdict(session, event_pk, kind)
        if existing is not None:
            stored.append(existing)
    return stored


def _book_judge_cost(session: Session, segment_id: int, verdict: Verdict, at: Any) -> None:
    tokens = verdict.prompt_tokens + verdict.completion_tokens
    # A deterministic judge makes no model call: nothing to book.
    if tokens == 0 and verdict.cost_usd == 0:
        return
    record_cost(session, utc_day(at), segment_id, "judge", verdict.cost_usd, tokens)
