"""The judge stage: turns an event's stored shadow runs into verdicts.

Kind 'gap' compares the cheap answer with the flagship's replicate 0; kind 'noise' compares
replicate 0 with replicate 1 (flagship vs flagship), the noise floor the gap is read against.
Each verdict carries the event's inclusion probability so weighted aggregates stay unbiased.
Takes ``session`` first and never commits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from shadowgap.config import Settings, get_settings
from shadowgap.db import models
from shadowgap.db.locks import lock_segment_rows
from shadowgap.enums import CostKind, RunStatus, VerdictKind
from shadowgap.errors import NotFound
from shadowgap.judging.base import Judge
from shadowgap.judging.select import judge_pair
from shadowgap.privacy import originals
from shadowgap.privacy.redaction import for_settings
from shadowgap.schemas import Verdict, last_user_text
from shadowgap.shadow.costs import record_cost, utc_day
from shadowgap.shadow.runs import insert_or_ignore, runs_for_event


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


def _values(plan: ScoringPlan, kind: str, verdict: Verdict) -> dict[str, Any]:
    return {
        "event_pk": plan.event_pk,
        "segment_id": plan.segment_id,
        "kind": kind,
        "judge": verdict.judge,
        "judge_model": verdict.judge_model,
        "prompt_version": verdict.prompt_version,
        "winner": verdict.winner,
        "gap_score": max(-1.0, min(1.0, verdict.gap_score)),
        "inclusion_probability": plan.inclusion_probability,
        "raw": verdict.raw,
        "rationale": verdict.rationale,
        "prompt_tokens": verdict.prompt_tokens,
        "completion_tokens": verdict.completion_tokens,
        "cost_usd": verdict.cost_usd,
        "latency_ms": verdict.latency_ms,
        "created_at": models.utcnow(),
    }


# A pair's side: its text, or an OpenAI assistant message dict when it calls tools.
PairAnswer = str | dict[str, Any]


@dataclass(frozen=True, slots=True)
class ScoringPlan:
    """The pairs still to judge for one event, read in one transaction, stored in another."""

    event_pk: int
    segment_id: int
    inclusion_probability: float
    question: str
    # (kind, cheap-side answer, flagship-side answer) for kinds without a verdict yet.
    pairs: list[tuple[str, PairAnswer, PairAnswer]] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)  # every kind this event should end up with
    # The request as stored ({"messages", "params"}): its response_format picks the judge.
    request: dict[str, Any] = field(default_factory=dict)


def _answer(
    kept: dict[str, dict[str, Any]],
    part: str,
    stored_text: str | None,
    stored_calls: list[dict[str, Any]] | None,
) -> PairAnswer:
    """One side of a pair as the judges take it: the text, or an OpenAI assistant message when
    the answer calls tools (the originals while they are kept, the stored copy otherwise), so
    that tool-call pairs go to the tool-call judge (:func:`judge_pair`)."""
    text = originals.text(kept, part, stored_text or "")
    calls = originals.tool_calls(kept, part, stored_calls)
    if not calls:
        return text
    return {"content": text or None, "tool_calls": calls}


def plan_scoring(session: Session, event_pk: int) -> ScoringPlan | None:
    """What to judge, or None when there is nothing to score (see :func:`score_event`)."""
    event = session.get(models.TrafficEvent, event_pk)
    if event is None:
        raise NotFound(f"traffic event {event_pk} not found")
    runs = runs_for_event(session, event_pk)
    primary = runs.get(0)
    if primary is None or primary.status != RunStatus.OK or event.answer is None:
        return None
    # The judge compares what was really said: the originals while they are kept
    # (shadowgap/privacy/originals.py), the stored redacted text otherwise.
    kept = originals.read(session, event_pk)
    flagship = _answer(kept, originals.flagship_part(0), primary.answer, primary.answer_tool_calls)
    cheap = _answer(kept, originals.ANSWER, event.answer, event.answer_tool_calls)
    candidates: list[tuple[str, PairAnswer, PairAnswer]] = [(VerdictKind.GAP, cheap, flagship)]
    repeat = runs.get(1)
    if repeat is not None and repeat.status == RunStatus.OK:
        replicate = _answer(
            kept, originals.flagship_part(1), repeat.answer, repeat.answer_tool_calls
        )
        candidates.append((VerdictKind.NOISE, replicate, flagship))
    request = kept.get(originals.REQUEST) or event.request or {}
    return ScoringPlan(
        event_pk=event_pk,
        segment_id=event.segment_id,
        inclusion_probability=_inclusion_probability(session, event_pk),
        question=last_user_text(request.get("messages") or []),
        pairs=[pair for pair in candidates if get_verdict(session, event_pk, pair[0]) is None],
        kinds=[kind for kind, _, _ in candidates],
        request=dict(request),
    )


def judge_plan(plan: ScoringPlan, judge: Judge) -> list[tuple[str, Verdict]]:
    """Run the judge on the plan's pairs; touches no database (an LLM judge may be slow).

    ``judge`` is the segment's text judge; a pair whose request asked for JSON goes to the
    structured-output judge instead (:func:`shadowgap.judging.select.judge_pair`).
    """
    return [
        (kind, judge_pair(plan.request, cheap, flagship, judge, question=plan.question))
        for kind, cheap, flagship in plan.pairs
    ]


def store_verdicts(
    session: Session, plan: ScoringPlan, judged: list[tuple[str, Verdict]]
) -> list[models.Verdict]:
    """Store each verdict once per (event, kind), book judge cost; returns all the event's."""
    lock_segment_rows(session, {plan.segment_id})
    redactor = for_settings(get_settings())
    for kind, verdict in judged:
        # The judge saw the originals: its words are redacted like everything stored.
        values = _values(plan, kind, verdict)
        values["rationale"] = redactor.text(values["rationale"])
        values["raw"] = redactor.value(values["raw"])
        if insert_or_ignore(session, models.Verdict, values, ["event_pk", "kind"]):
            _book_judge_cost(session, plan.segment_id, verdict, values["created_at"])
    stored = [get_verdict(session, plan.event_pk, kind) for kind in plan.kinds]
    found = [verdict for verdict in stored if verdict is not None]
    if len(found) == len(plan.kinds):
        originals.drop(session, plan.event_pk)  # every verdict is in: the originals go
    return found


def score_event(
    session: Session, event_pk: int, judge: Judge, settings: Settings
) -> list[models.Verdict]:
    """Judge the event's pairs and store one verdict per kind (idempotent per kind).

    Returns [] when replicate 0 is missing or failed, or when the cheap call itself errored
    (no cheap answer: that is the error-rate signal, not a quality gap). A failed replicate 1
    only drops the 'noise' verdict. Like :func:`shadowgap.shadow.runs.run_shadow`, this keeps the
    caller's transaction open while an LLM judge runs; a job can instead call
    :func:`plan_scoring`, :func:`judge_plan` and :func:`store_verdicts` with the judging
    outside any transaction.
    """
    plan = plan_scoring(session, event_pk)
    if plan is None:
        return []
    return store_verdicts(session, plan, judge_plan(plan, judge))


def _book_judge_cost(session: Session, segment_id: int, verdict: Verdict, at: Any) -> None:
    tokens = verdict.prompt_tokens + verdict.completion_tokens
    # A deterministic judge makes no model call: nothing to book.
    if tokens == 0 and verdict.cost_usd == 0:
        return
    record_cost(session, utc_day(at), segment_id, CostKind.JUDGE, verdict.cost_usd, tokens)
