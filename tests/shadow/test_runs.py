"""Shadow runs, costs and scoring on a real SQLite file with the recorded GSM8K flagship."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from shadowgap.config import Settings
from shadowgap.db import models
from shadowgap.db.engine import make_engine
from shadowgap.errors import FlagshipError
from shadowgap.judging.answer_match import AnswerMatchJudge
from shadowgap.judging.score import judge_plan, plan_scoring, score_event, store_verdicts
from shadowgap.llm.base import attempts_of
from shadowgap.llm.recorded import RecordedClient
from shadowgap.shadow.costs import budget_exhausted, costs_by_segment, record_cost, spent_today
from shadowgap.shadow.runs import (
    ShadowRequest,
    call_flagship,
    prepare_shadow,
    record_failed_run,
    run_shadow,
    store_shadow,
)
from tests.support.factories import CHEAP_MODEL, gsm8k_rows
from tests.support.settings import GSM8K_CSV

PRICED = {
    "flagship_usd_per_1k_prompt_tokens": 0.01,
    "flagship_usd_per_1k_completion_tokens": 0.03,
}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A SQLite file, and (marked postgres) a fresh PostgreSQL database."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/shadow.db"
    else:
        url = request.getfixturevalue("postgres_url")
    engine = make_engine(url)
    models.Base.metadata.create_all(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


@pytest.fixture(scope="module")
def flagship() -> RecordedClient:
    return RecordedClient(GSM8K_CSV)


def add_event(
    session: Session,
    row: int,
    *,
    segment: str = "tenant=acme",
    probability: float = 0.25,
    replicates: int = 1,
    answer: str | None = None,
) -> int:
    """A cheap-routed GSM8K event with its sampling decision; returns its primary key."""
    data = gsm8k_rows()[row]
    seg = session.scalars(select(models.Segment).where(models.Segment.key == segment)).first()
    if seg is None:
        seg = models.Segment(key=segment, dimensions={"tenant": segment.split("=")[1]})
        session.add(seg)
        session.flush()
    event = models.TrafficEvent(
        event_id=f"evt-{row}-{segment}",
        segment_id=seg.id,
        source_format="native",
        occurred_at=datetime(2026, 11, 2, 12, tzinfo=UTC),
        route_tier="cheap",
        route_model=CHEAP_MODEL,
        is_cheap=True,
        request={
            "messages": [{"role": "user", "content": data["prompt"]}],
            "params": {"temperature": 0, "max_tokens": 256},
        },
        prompt_hash="0" * 64,
        answer=answer if answer is not None else data[f"{CHEAP_MODEL}_response"],
        status="ok",
        attributes={},
    )
    session.add(event)
    session.flush()
    session.add(
        models.SamplingDecision(
            event_pk=event.id,
            segment_id=seg.id,
            inclusion_probability=probability,
            hash_value=0.1,
            replicates=replicates,
        )
    )
    session.flush()
    return event.id


def count(session: Session, model: type[models.Base]) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def test_redelivered_job_stores_one_run(
    sessions: sessionmaker[Session], flagship: RecordedClient
) -> None:
    settings = Settings(**PRICED)
    with sessions.begin() as session:
        event_pk = add_event(session, 0)
    for _ in range(3):  # the same job delivered three times, each in its own transaction
        with sessions.begin() as session:
            run = run_shadow(session, event_pk, 0, flagship, settings)
    with sessions() as session:
        assert count(session, models.ShadowRun) == 1
        stored = session.scalars(select(models.ShadowRun)).one()
        assert stored.id == run.id
        assert stored.status == "ok" and stored.client == "recorded"
        assert stored.answer == gsm8k_rows()[0]["gpt-4-1106-preview_response"]
        assert stored.attempts == 1 and stored.prompt_tokens > 0
        expected = (stored.prompt_tokens * 0.01 + stored.completion_tokens * 0.03) / 1000
        assert stored.cost_usd == pytest.approx(expected)
        ledger = session.scalars(select(models.CostLedger)).one()
        assert (ledger.kind, ledger.calls) == ("flagship", 1)
        assert ledger.usd == pytest.approx(expected)


def test_concurrent_duplicate_is_tolerated(
    sessions: sessionmaker[Session], flagship: RecordedClient
) -> None:
    """The job's two-phase form: no transaction is open while the flagship answers."""
    settings = Settings(**PRICED)
    with sessions.begin() as session:
        event_pk = add_event(session, 1)
    with sessions.begin() as session:
        request = prepare_shadow(session, event_pk, 0, settings)
    assert isinstance(request, ShadowRequest) and request.messages
    completion = call_flagship(request, flagship)
    # Meanwhile a redelivered copy of the job ran to the end on another worker.
    with sessions.begin() as other:
        first = run_shadow(other, event_pk, 0, flagship, settings)
    with sessions.begin() as session:
        run = store_shadow(session, request, completion, flagship, settings)
    assert run.id == first.id and run.status == "ok"
    with sessions() as session:
        assert count(session, models.ShadowRun) == 1
        # Only the worker whose row was stored books the cost.
        assert session.scalars(select(models.CostLedger)).one().calls == 1
    with sessions.begin() as session:
        assert prepare_shadow(session, event_pk, 0, settings).id == run.id  # type: ignore[union-attr]


def test_failed_run_is_stored_once_and_never_overwrites(
    sessions: sessionmaker[Session], flagship: RecordedClient
) -> None:
    settings = Settings()
    with sessions.begin() as session:
        event_pk = add_event(session, 2)
        unknown = add_event(session, 3)
        session.get(models.TrafficEvent, unknown).request = {  # type: ignore[union-attr]
            "messages": [{"role": "user", "content": "a prompt nobody recorded"}],
            "params": {},
        }
    with sessions.begin() as session, pytest.raises(FlagshipError) as caught:
        run_shadow(session, unknown, 0, flagship, settings)
    assert caught.value.transient is False
    for _ in range(2):
        with sessions.begin() as session:
            failed = record_failed_run(
                session,
                unknown,
                0,
                caught.value.message,
                attempts_of(caught.value),
                client=flagship,
            )
    assert failed.status == "failed" and failed.attempts == 1
    assert "no recorded answer" in (failed.error or "")
    # A late failure report for a run that succeeded leaves the successful run alone.
    with sessions.begin() as session:
        ok = run_shadow(session, event_pk, 0, flagship, settings)
        again = record_failed_run(session, event_pk, 0, "late timeout", 6)
        assert again.id == ok.id and again.status == "ok"
    with sessions() as session:
        assert count(session, models.ShadowRun) == 2
        # A failed run scores nothing.
        assert score_event(session, unknown, AnswerMatchJudge(), settings) == []


def test_caller_rollback_discards_the_run(
    sessions: sessionmaker[Session], flagship: RecordedClient
) -> None:
    with sessions.begin() as session:
        event_pk = add_event(session, 4)
    with sessions() as session:
        run_shadow(session, event_pk, 0, flagship, Settings(**PRICED))
        session.rollback()  # the task failed after the run: nothing of it may stay
    with sessions() as session:
        assert count(session, models.ShadowRun) == 0
        assert count(session, models.CostLedger) == 0


def test_score_event_writes_gap_and_noise_verdicts_once(
    sessions: sessionmaker[Session], flagship: RecordedClient
) -> None:
    settings = Settings()
    judge = AnswerMatchJudge()
    with sessions.begin() as session:
        # Row 5: Mixtral wrong, GPT-4 right; noise-floor replicate requested.
        same = add_event(session, 0, probability=0.5, replicates=2)
        differs = add_event(session, 5, probability=0.125, replicates=2)
    for event_pk in (same, differs):
        for replicate in (0, 1):
            with sessions.begin() as session:
                run_shadow(session, event_pk, replicate, flagship, settings)
    with sessions.begin() as session:
        verdicts = {v.kind: v for v in score_event(session, differs, judge, settings)}
    assert set(verdicts) == {"gap", "noise"}
    assert verdicts["gap"].winner == "flagship" and verdicts["gap"].gap_score == 1.0
    assert verdicts["gap"].inclusion_probability == 0.125
    # A recorded flagship repeats itself exactly: zero noise.
    assert verdicts["noise"].winner == "tie" and verdicts["noise"].gap_score == 0.0
    with sessions.begin() as session:
        tie = {v.kind: v for v in score_event(session, same, judge, settings)}
        assert tie["gap"].winner == "tie" and tie["gap"].inclusion_probability == 0.5
        again = score_event(session, differs, judge, settings)  # redelivered judge job
        assert sorted(v.id for v in again) == sorted(v.id for v in verdicts.values())
    with sessions() as session:
        assert count(session, models.Verdict) == 4
        # The deterministic judge costs nothing, so the ledger holds flagship spend only.
        kinds = set(session.scalars(select(models.CostLedger.kind)))
        assert kinds <= {"flagship"}


def test_cost_ledger_upserts_and_budget(sessions: sessionmaker[Session]) -> None:
    now = datetime(2026, 11, 2, 23, 59, tzinfo=UTC)
    with sessions.begin() as session:
        a = add_event(session, 0, segment="tenant=acme")
        b = add_event(session, 1, segment="tenant=globex")
        seg_a = session.get(models.TrafficEvent, a).segment_id  # type: ignore[union-attr]
        seg_b = session.get(models.TrafficEvent, b).segment_id  # type: ignore[union-attr]
        record_cost(session, now.date(), seg_a, "flagship", 0.5, 1000)
        record_cost(session, now.date(), seg_a, "flagship", 0.25, 500)
        record_cost(session, now.date(), seg_a, "judge", 0.1, 200)
        record_cost(session, now.date(), seg_b, "flagship", 0.05, 100)
        record_cost(session, date(2026, 11, 1), seg_b, "flagship", 9.0, 100)
    with sessions() as session:
        assert count(session, models.CostLedger) == 4
        assert spent_today(session, now) == pytest.approx(0.9)
        assert not budget_exhausted(session, Settings(), now)
        assert not budget_exhausted(session, Settings(daily_budget_usd=1.0), now)
        assert budget_exhausted(session, Settings(daily_budget_usd=0.9), now)
        per_segment = costs_by_segment(session, now.date())
        assert [c.segment_key for c in per_segment] == ["tenant=acme", "tenant=globex"]
        acme = per_segment[0]
        assert acme.flagship_usd == pytest.approx(0.75) and acme.judge_usd == pytest.approx(0.1)
        assert (acme.tokens, acme.calls) == (1700, 3)
        assert acme.total_usd == pytest.approx(0.85)
    with sessions() as session, pytest.raises(ValueError):
        record_cost(session, now.date(), seg_a, "coffee", 1.0, 0)  # type: ignore[arg-type]


def test_two_phase_scoring_stores_each_kind_once(
    sessions: sessionmaker[Session], flagship: RecordedClient
) -> None:
    settings = Settings()
    with sessions.begin() as session:
        event_pk = add_event(session, 5, probability=0.3, replicates=2)
    for replicate in (0, 1):
        with sessions.begin() as session:
            run_shadow(session, event_pk, replicate, flagship, settings)
    with sessions.begin() as session:
        plan = plan_scoring(session, event_pk)
    assert plan is not None and [kind for kind, _, _ in plan.pairs] == ["gap", "noise"]
    judged = judge_plan(plan, AnswerMatchJudge())
    # Two workers finishing the same plan: the second store is a no-op.
    for _ in range(2):
        with sessions.begin() as session:
            stored = store_verdicts(session, plan, judged)
            assert [v.kind for v in stored] == ["gap", "noise"]
    with sessions.begin() as session:
        replan = plan_scoring(session, event_pk)
        assert replan is not None and replan.pairs == []
        assert count(session, models.Verdict) == 2
