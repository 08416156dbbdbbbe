"""The reverse shadow: flagship-routed requests near the threshold, re-run on the cheap model.

Forward pairs only ever see requests the router already sends cheap, so they say what a
*stricter* threshold would do. To see what a looser one would cost, a small share
(``reverse_shadow_rate``) of the flagship-routed requests whose route score lies within
``reverse_shadow_band`` past the threshold is re-run on the cheap model (its own client
settings: ``cheap_*``) and judged like a forward pair: the cheap re-run is the cheap answer,
the flagship answer the router served is the flagship's. The re-run is ShadowRun replicate 2,
the verdict kind 'reverse', with the inclusion probability of the draw, so the threshold
what-if weights it like any other pair.

The threshold is ``router_threshold`` when set, else each segment's current routing boundary
inferred from its recent traffic (:func:`shadowgap.attribution.bands.routing_boundary`). A
segment whose routing is no clean threshold on the score has no boundary and no reverse shadow.

Sampling runs from beat over recently received events (no change to ingest): the draw is
``hash(salt, 'reverse', event_id) < rate``, so re-scanning an event decides the same, and the
unique ``reverse_samples.event_pk`` makes the scan idempotent; each scan also re-sends samples
handed to the broker long ago that still have no verdict. Functions take ``session`` first
and never commit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import and_, exists, or_, select, update
from sqlalchemy.orm import Session

from shadowgap.attribution.bands import routing_boundary
from shadowgap.attribution.periods import Period
from shadowgap.config import Settings
from shadowgap.db import models
from shadowgap.enums import EventStatus, RunStatus, VerdictKind
from shadowgap.errors import NotFound
from shadowgap.judging.base import Judge
from shadowgap.llm.base import ChatClient, Completion, forwarded_params
from shadowgap.llm.factory import reverse_shadow_problem
from shadowgap.schemas import last_user_text
from shadowgap.shadow.costs import budget_exhausted
from shadowgap.shadow.runs import get_run, insert_or_ignore, request_messages
from shadowgap.shadow.sampling import hash_unit

REVERSE_REPLICATE = 2
# A reverse re-run still without its verdict this long after it was sent is sent again (the
# forward shadow's default SHADOWGAP_JOB_LOST_AFTER_SECONDS).
LOST_AFTER = timedelta(minutes=2)
# Each scan looks this far back: beat runs it every minute, the overlap absorbs a late beat.
SCAN_WINDOW = timedelta(minutes=15)
# Events behind a segment's inferred boundary.
BOUNDARY_EVENTS = 2000


def segment_threshold(session: Session, segment_id: int, settings: Settings) -> float | None:
    if settings.router_threshold is not None:
        return settings.router_threshold
    E = models.TrafficEvent
    rows = session.execute(
        select(E.route_score, E.is_cheap)
        .where(E.segment_id == segment_id, E.route_score.is_not(None))
        .order_by(E.id.desc())
        .limit(BOUNDARY_EVENTS)
    ).all()
    if not rows:
        return None
    n = len(rows)
    period = Period(
        score=np.array([r[0] for r in rows], dtype=float),
        cheap=np.array([1.0 if r[1] else 0.0 for r in rows]),
        verdict_weight=np.zeros(n),
        flagship_won=np.zeros(n),
        cost=np.full(n, np.nan),
        latency=np.full(n, np.nan),
        escalated=np.zeros(n),
    )
    return routing_boundary(period)


def threshold_band(threshold: float, settings: Settings) -> tuple[float, float]:
    """The scores on the flagship side of the threshold within the band (both ends included)."""
    if settings.router_cheap_when == "below":
        return threshold, threshold + settings.reverse_shadow_band
    return threshold - settings.reverse_shadow_band, threshold


def sample_reverse(session: Session, settings: Settings, now: datetime) -> list[int]:
    """Draw the reverse samples among recently received events; ids of samples to send."""
    rate = settings.reverse_shadow_rate
    # Off until a cheap model is configured (shadowgap/llm/factory.py: cheap_problem).
    if rate <= 0 or reverse_shadow_problem(settings) is not None:
        return []
    if settings.daily_budget_usd is not None and budget_exhausted(session, settings, now):
        return []
    E = models.TrafficEvent
    candidate = (
        E.received_at >= now - SCAN_WINDOW,
        E.is_cheap.is_(False),
        E.route_score.is_not(None),
        E.status == EventStatus.OK,
        E.answer.is_not(None),
    )
    segment_ids = session.scalars(select(E.segment_id).where(*candidate).distinct()).all()
    for segment_id in segment_ids:
        threshold = segment_threshold(session, segment_id, settings)
        if threshold is None:
            continue
        # Only the band near the threshold is read: the window holds every flagship-routed
        # request of the last minutes (700,000 rows at 1,500 events/s), re-read each minute.
        low, high = threshold_band(threshold, settings)
        rows = session.execute(
            select(E.id, E.event_id)
            .where(*candidate, E.segment_id == segment_id, E.route_score.between(low, high))
            .order_by(E.id)
        ).all()
        for event_pk, event_id in rows:
            if hash_unit(settings.sampling_salt + ":reverse", event_id) >= rate:
                continue
            values: dict[str, Any] = {
                "event_pk": event_pk,
                "segment_id": segment_id,
                "inclusion_probability": rate,
                "threshold": threshold,
                "decided_at": now,
                "enqueued_at": None,
            }
            insert_or_ignore(session, models.ReverseSample, values, ["event_pk"])
    return samples_to_send(session, now)


def samples_to_send(session: Session, now: datetime, limit: int = 1000) -> list[int]:
    """Samples never handed to the broker, or handed over long ago and still unjudged."""
    sample, verdict = models.ReverseSample, models.Verdict
    judged = exists().where(
        verdict.event_pk == sample.event_pk, verdict.kind == VerdictKind.REVERSE
    )
    lost = and_(sample.enqueued_at < now - LOST_AFTER, ~judged)
    return list(
        session.scalars(
            select(sample.id)
            .where(or_(sample.enqueued_at.is_(None), lost))
            .order_by(sample.id)
            .limit(limit)
        )
    )


def mark_sent(session: Session, sample_ids: list[int], now: datetime) -> None:
    session.execute(
        update(models.ReverseSample)
        .where(models.ReverseSample.id.in_(sample_ids))
        .values(enqueued_at=now)
    )


@dataclass(frozen=True, slots=True)
class ReverseRequest:
    """What to send the cheap model, and what to judge it against."""

    sample_id: int
    event_pk: int
    segment_id: int
    inclusion_probability: float
    messages: list[dict[str, Any]]
    question: str
    flagship_answer: str
    max_tokens: int
    temperature: float
    # The request's other forwarded parameters (tools, response format, ...), as the flagship
    # re-run gets them (shadowgap.llm.base.FORWARDED_PARAMS).
    options: dict[str, Any] = field(default_factory=dict)


def prepare_reverse(session: Session, sample_id: int, settings: Settings) -> ReverseRequest | None:
    """The call to make, or None when this sample already has its verdict."""
    sample = session.get(models.ReverseSample, sample_id)
    if sample is None:
        raise NotFound(f"reverse sample {sample_id} not found")
    event = session.get(models.TrafficEvent, sample.event_pk)
    if event is None or event.answer is None:
        return None
    done = session.scalar(
        select(models.Verdict.id).where(
            models.Verdict.event_pk == event.id, models.Verdict.kind == VerdictKind.REVERSE
        )
    )
    if done is not None:
        return None
    params = (event.request or {}).get("params") or {}
    requested = params.get("max_tokens")
    max_tokens = settings.flagship_max_tokens
    if isinstance(requested, int) and requested > 0:
        max_tokens = min(max_tokens, requested)
    temperature = params.get("temperature")
    messages = request_messages(event)
    return ReverseRequest(
        sample_id=sample_id,
        event_pk=event.id,
        segment_id=event.segment_id,
        inclusion_probability=sample.inclusion_probability,
        messages=messages,
        question=last_user_text(messages),
        flagship_answer=event.answer,
        max_tokens=max_tokens,
        temperature=float(temperature) if isinstance(temperature, int | float) else 0.0,
        options=forwarded_params(params),
    )


def call_cheap(request: ReverseRequest, client: ChatClient) -> Completion:
    return client.complete(
        request.messages,
        max_tokens=request.max_tokens,
        temperature=request.temperature,
        options=request.options,
    )


def store_rerun(
    session: Session, request: ReverseRequest, completion: Completion, client: ChatClient
) -> models.ShadowRun:
    values: dict[str, Any] = {
        "event_pk": request.event_pk,
        "replicate": REVERSE_REPLICATE,
        "status": RunStatus.OK,
        "client": client.name,
        "model": client.model,
        "answer": completion.text,
        "answer_tool_calls": completion.tool_calls,
        "finish_reason": completion.finish_reason,
        "latency_ms": completion.latency_ms,
        "prompt_tokens": completion.prompt_tokens,
        "completion_tokens": completion.completion_tokens,
        "cost_usd": 0.0,
        "attempts": completion.attempts,
        "created_at": models.utcnow(),
    }
    insert_or_ignore(session, models.ShadowRun, values, ["event_pk", "replicate"])
    run = get_run(session, request.event_pk, REVERSE_REPLICATE)
    if run is None:  # pragma: no cover - the row was just inserted or found
        raise RuntimeError(f"reverse run of event {request.event_pk} vanished")
    return run


def judge_reverse(
    session: Session, request: ReverseRequest, run: models.ShadowRun, judge: Judge
) -> models.Verdict:
    """Judge the cheap re-run against the served flagship answer; stored once per event."""
    verdict = judge.judge(request.question, run.answer or "", request.flagship_answer)
    values: dict[str, Any] = {
        "event_pk": request.event_pk,
        "segment_id": request.segment_id,
        "kind": VerdictKind.REVERSE,
        "judge": verdict.judge,
        "judge_model": verdict.judge_model,
        "prompt_version": verdict.prompt_version,
        "winner": verdict.winner,
        "gap_score": max(-1.0, min(1.0, verdict.gap_score)),
        "inclusion_probability": request.inclusion_probability,
        "raw": verdict.raw,
        "rationale": verdict.rationale,
        "prompt_tokens": verdict.prompt_tokens,
        "completion_tokens": verdict.completion_tokens,
        "cost_usd": verdict.cost_usd,
        "latency_ms": verdict.latency_ms,
    }
    insert_or_ignore(session, models.Verdict, values, ["event_pk", "kind"])
    stored = session.scalars(
        select(models.Verdict).where(
            models.Verdict.event_pk == request.event_pk, models.Verdict.kind == VerdictKind.REVERSE
        )
    ).one()
    return stored
