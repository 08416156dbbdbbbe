"""Shadow runs: the sampled cheap-routed request, re-run on the flagship.

Replicate 0 is the run the cheap answer is compared with; replicate 1 (for a fraction of the
sample) repeats it to measure the flagship's own run-to-run noise. A run is stored once per
``(event_pk, replicate)`` whatever the number of deliveries of its job, and a failed run is
stored too (status 'failed'), so it is neither lost nor counted twice.

Functions take ``session`` first and never commit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shadowgap.config import Settings, get_settings
from shadowgap.db import models
from shadowgap.enums import CostKind, RunStatus
from shadowgap.errors import InvalidInput, NotFound
from shadowgap.llm.base import ChatClient, Completion, forwarded_params
from shadowgap.privacy import originals
from shadowgap.privacy.redaction import Redactor, for_settings
from shadowgap.shadow.costs import record_cost, utc_day


def insert_or_ignore(
    session: Session,
    model: type[models.Base],
    values: dict[str, Any],
    unique_columns: list[str],
) -> bool:
    """Insert a row unless one with the same unique key exists; True when this call inserted.

    SQLite and PostgreSQL use ``INSERT ... ON CONFLICT DO NOTHING``: a concurrent duplicate
    costs no exception, no SAVEPOINT round trip, and never aborts the caller's transaction.
    Other dialects insert inside ``begin_nested()`` and treat an IntegrityError as "exists".
    """
    dialect = session.get_bind().dialect.name
    if dialect in ("sqlite", "postgresql"):
        insert = sqlite.insert if dialect == "sqlite" else postgresql.insert
        stmt = (
            insert(model)
            .values(**values)
            .on_conflict_do_nothing(index_elements=unique_columns)
            # RETURNING says whether a row was written; rowcount is -1 for ORM-enabled inserts
            # on psycopg.
            .returning(model.__table__.c.id)
        )
        return session.execute(stmt).first() is not None
    try:
        with session.begin_nested():
            session.add(model(**values))
            session.flush()
    except IntegrityError:
        return False
    return True


@dataclass(frozen=True, slots=True)
class DecisionClaim:
    """A shadow job's hold on a sampled event: only its holder calls the flagship for it."""

    decision_id: int
    event_pk: int
    replicates: int
    until: datetime


def claim_decision(
    session: Session, decision_id: int, now: datetime, lease: timedelta
) -> DecisionClaim | None:
    """Take the decision for ``lease`` unless another job holds it; None when it is held (or
    gone). One conditional UPDATE: two jobs racing for it cannot both win, on PostgreSQL (the
    loser re-checks the condition after the winner commits) as on SQLite (one writer)."""
    decision = models.SamplingDecision
    until = now + lease
    row = session.execute(
        update(decision)
        .where(
            decision.id == decision_id,
            or_(decision.claimed_until.is_(None), decision.claimed_until <= now),
        )
        .values(claimed_until=until)
        .returning(decision.event_pk, decision.replicates)
        .execution_options(synchronize_session=False)
    ).first()
    if row is None:
        return None
    return DecisionClaim(decision_id, int(row[0]), int(row[1]), until)


def release_decision(session: Session, claim: DecisionClaim) -> None:
    """Give the decision back, unless the claim ran out and another job holds it now."""
    decision = models.SamplingDecision
    session.execute(
        update(decision)
        .where(decision.id == claim.decision_id, decision.claimed_until == claim.until)
        .values(claimed_until=None)
        .execution_options(synchronize_session=False)
    )


def get_run(session: Session, event_pk: int, replicate: int) -> models.ShadowRun | None:
    return session.scalars(
        select(models.ShadowRun).where(
            models.ShadowRun.event_pk == event_pk, models.ShadowRun.replicate == replicate
        )
    ).one_or_none()


def runs_for_event(session: Session, event_pk: int) -> dict[int, models.ShadowRun]:
    """The event's stored runs by replicate number."""
    runs = session.scalars(
        select(models.ShadowRun).where(models.ShadowRun.event_pk == event_pk)
    ).all()
    return {run.replicate: run for run in runs}


def flagship_cost(settings: Settings, prompt_tokens: int, completion_tokens: int) -> float:
    """USD of one flagship call at the configured per-1k-token prices."""
    return (
        prompt_tokens * settings.flagship_usd_per_1k_prompt_tokens
        + completion_tokens * settings.flagship_usd_per_1k_completion_tokens
    ) / 1000.0


def request_messages(event: models.TrafficEvent) -> list[dict[str, Any]]:
    """The stored request's messages (``{"messages": [...], "params": {...}}``)."""
    messages = (event.request or {}).get("messages")
    if not isinstance(messages, list) or not messages:
        raise InvalidInput("stored request has no messages", field="request.messages")
    return messages


def _call_params(
    event: models.TrafficEvent, settings: Settings
) -> tuple[int, float, dict[str, Any]]:
    """max_tokens, temperature and the other forwarded parameters of the stored request.

    The flagship gets the same request the cheap model got (see FORWARDED_PARAMS and
    docs/how-it-works.md): the same generation budget (capped by our own limit, under the
    name the request used), the request's temperature (0 when it set none, which keeps the
    noise floor small), and its tools, tool choice, response format, stop sequences, seed and
    sampling settings.
    """
    params = (event.request or {}).get("params") or {}
    max_tokens = settings.flagship_max_tokens
    requested = params.get("max_tokens") or params.get("max_completion_tokens")
    if isinstance(requested, int) and requested > 0:
        max_tokens = min(max_tokens, requested)
    temperature = params.get("temperature")
    if not isinstance(temperature, int | float) or isinstance(temperature, bool):
        temperature = 0.0
    options = forwarded_params(params)
    if params.get("max_completion_tokens") and not params.get("max_tokens"):
        options["max_completion_tokens"] = max_tokens
    return max_tokens, float(temperature), options


@dataclass(frozen=True, slots=True)
class ShadowRequest:
    """What to send the flagship for one run: read in one transaction, stored in another."""

    event_pk: int
    replicate: int
    segment_id: int
    messages: list[dict[str, Any]]
    max_tokens: int
    temperature: float
    # The request's other forwarded parameters (tools, tool_choice, response_format, ...).
    options: dict[str, Any] = field(default_factory=dict)


def prepare_shadow(
    session: Session, event_pk: int, replicate: int, settings: Settings
) -> models.ShadowRun | ShadowRequest:
    """The stored run if there is one (a redelivered job), else the request to send."""
    existing = get_run(session, event_pk, replicate)
    if existing is not None:
        return existing
    event = session.get(models.TrafficEvent, event_pk)
    if event is None:
        raise NotFound(f"traffic event {event_pk} not found")
    max_tokens, temperature, options = _call_params(event, settings)
    # The flagship answers what the cheap model was asked: the unredacted request while it is
    # kept (shadowgap/privacy/originals.py), the stored (redacted) one otherwise.
    kept = originals.read(session, event_pk).get(originals.REQUEST)
    messages = kept.get("messages") if kept else None
    return ShadowRequest(
        event_pk=event_pk,
        replicate=replicate,
        segment_id=event.segment_id,
        messages=messages if isinstance(messages, list) and messages else request_messages(event),
        max_tokens=max_tokens,
        temperature=temperature,
        options=options,
    )


def call_flagship(request: ShadowRequest, client: ChatClient) -> Completion:
    """The flagship call itself; touches no database (run it outside any transaction)."""
    return client.complete(
        request.messages,
        max_tokens=request.max_tokens,
        temperature=request.temperature,
        options=request.options,
    )


def store_shadow(
    session: Session,
    request: ShadowRequest,
    completion: Completion,
    client: ChatClient,
    settings: Settings,
) -> models.ShadowRun:
    """Store the run and book its cost, unless a concurrent worker stored it first."""
    cost = flagship_cost(settings, completion.prompt_tokens, completion.completion_tokens)
    created_at = models.utcnow()
    redactor = for_settings(settings)
    answer = redactor.text(completion.text)
    tool_calls = redact_tool_calls(completion.tool_calls, redactor)
    changed = answer != completion.text or tool_calls != completion.tool_calls
    if changed and not settings.redact_before_flagship:
        # The judge compares the original answers; the stored one is redacted.
        originals.keep_text(
            session,
            request.event_pk,
            originals.flagship_part(request.replicate),
            completion.text,
            created_at,
            tool_calls=completion.tool_calls,
        )
    values: dict[str, Any] = {
        "event_pk": request.event_pk,
        "replicate": request.replicate,
        "status": RunStatus.OK,
        "client": client.name,
        "model": client.model,
        "answer": answer,
        "answer_tool_calls": tool_calls,
        "finish_reason": completion.finish_reason,
        "latency_ms": completion.latency_ms,
        "prompt_tokens": completion.prompt_tokens,
        "completion_tokens": completion.completion_tokens,
        "cost_usd": cost,
        "attempts": completion.attempts,
        "created_at": created_at,
    }
    if insert_or_ignore(session, models.ShadowRun, values, ["event_pk", "replicate"]):
        # Only the writer of the row books its cost: a concurrent duplicate's call is not
        # counted, matching the single stored run.
        record_cost(
            session,
            utc_day(created_at),
            request.segment_id,
            CostKind.FLAGSHIP,
            cost,
            completion.prompt_tokens + completion.completion_tokens,
        )
    run = get_run(session, request.event_pk, request.replicate)
    if run is None:  # pragma: no cover - the row was just inserted or found
        raise RuntimeError(f"shadow run ({request.event_pk}, {request.replicate}) vanished")
    return run


def redact_tool_calls(
    calls: list[dict[str, Any]] | None, redactor: Redactor
) -> list[dict[str, Any]] | None:
    """Tool calls with their arguments redacted as text (names and ids are identifiers)."""
    if not calls or not redactor.enabled:
        return calls
    redacted = []
    for call in calls:
        function = call.get("function")
        if isinstance(function, dict) and isinstance(function.get("arguments"), str):
            function = {**function, "arguments": redactor.text(function["arguments"])}
            call = {**call, "function": function}
        redacted.append(call)
    return redacted


def run_shadow(
    session: Session, event_pk: int, replicate: int, client: ChatClient, settings: Settings
) -> models.ShadowRun:
    """Re-run an event on the flagship and store the run (and its cost) once.

    Returns the stored run when one exists for ``(event_pk, replicate)`` (a redelivered job
    does not call the flagship again). Raises :class:`shadowgap.errors.FlagshipError` when the
    flagship fails; the caller then decides between a retry and :func:`record_failed_run`.

    This holds the caller's transaction open across the flagship call. On SQLite every
    transaction takes the write lock (BEGIN IMMEDIATE), so a long call would block ingest:
    jobs should rather run :func:`prepare_shadow` and :func:`store_shadow` in two short
    transactions with :func:`call_flagship` between them (no connection held while waiting
    on the flagship, which is also kinder to a PostgreSQL pool).
    """
    prepared = prepare_shadow(session, event_pk, replicate, settings)
    if isinstance(prepared, models.ShadowRun):
        return prepared
    return store_shadow(session, prepared, call_flagship(prepared, client), client, settings)


def record_failed_run(
    session: Session,
    event_pk: int,
    replicate: int,
    error: str,
    attempts: int,
    *,
    client: ChatClient | None = None,
) -> models.ShadowRun:
    """Store a failed run (non-transient error, or retries exhausted). Idempotent.

    An existing run, failed or not, is returned unchanged: a late failure of a redelivered job
    must not overwrite a run that succeeded.
    """
    existing = get_run(session, event_pk, replicate)
    if existing is not None:
        return existing
    if session.get(models.TrafficEvent, event_pk) is None:
        raise NotFound(f"traffic event {event_pk} not found")
    values = {
        "event_pk": event_pk,
        "replicate": replicate,
        "status": RunStatus.FAILED,
        "client": client.name if client is not None else "",
        "model": client.model if client is not None else "",
        "answer": None,
        "latency_ms": None,
        "prompt_tokens": 0,
        "completion_tokens": 0,
        "cost_usd": 0.0,
        "attempts": attempts,
        "error": for_settings(get_settings()).text(error[:10_000]),
        "created_at": models.utcnow(),
    }
    insert_or_ignore(session, models.ShadowRun, values, ["event_pk", "replicate"])
    run = get_run(session, event_pk, replicate)
    if run is None:  # pragma: no cover
        raise RuntimeError(f"shadow run ({event_pk}, {replicate}) vanished after insert")
    return run
