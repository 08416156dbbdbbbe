"""PII end to end with a real Celery worker on PostgreSQL + Redis: nothing stored, logged or
shown holds the PII, while the flagship and the judge got the original text.

The flagship is the recorded client over a file keyed by the *original* prompt: if the
flagship were sent the redacted prompt it would find no answer and the run would fail.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import func, select, text

from shadowgap.db import models
from shadowgap.db.engine import session_scope
from tests.support.factories import native_event
from tests.support.processes import wait_for
from tests.support.settings import auth

EMAIL, CARD, PHONE = "jane.doe@example.com", "4111 1111 1111 1111", "+1 202-555-0143"


def _pii_event(event_id: str) -> dict:
    event = native_event(event_id)
    question = event["request"]["messages"][0]["content"]
    event["request"]["messages"][0]["content"] = (
        f"I am {EMAIL}, card {CARD}, phone {PHONE}. {question}"
    )
    event["answer"] = f"Sure {EMAIL}! " + event["answer"]
    return event


def _recorded(tmp_path: Path, event: dict) -> Path:
    path = tmp_path / "flagship.jsonl"
    record = {
        "prompt": event["request"]["messages"][0]["content"],
        "answer": f"Write to {EMAIL} for a refund. " + event["answer"].split("! ", 1)[1],
    }
    path.write_text(json.dumps(record) + "\n")
    return path


def _everything_stored() -> str:
    """Every text and JSON value in every table, as one string."""
    with session_scope() as session:
        dumped = []
        for table in models.Base.metadata.sorted_tables:
            rows = session.execute(select(table)).all()
            dumped.append(json.dumps([list(r) for r in rows], default=str))
        return "\n".join(dumped)


def _pending() -> int:
    with session_scope() as session:
        return session.execute(
            select(func.count()).select_from(models.PendingOriginal)
        ).scalar_one()


def test_pii_never_stored_but_flagship_and_judge_see_originals(
    production: str,
    configure: Callable[..., None],
    client: TestClient,
    start_worker: Callable,
    tmp_path: Path,
) -> None:
    event = _pii_event("pii-1")
    configure(
        sampling_budget_fraction=1.0,
        noise_floor_fraction=1.0,
        recorded_answers_path=_recorded(tmp_path, event),
    )
    assert client.post("/v1/events", json=[event], headers=auth()).json()["sampled"] == 1
    with session_scope() as session:
        row = session.execute(select(models.TrafficEvent)).scalar_one()
        content = row.request["messages"][0]["content"]
        assert content.startswith("I am [EMAIL], card [CARD], phone [PHONE]. ")
        assert row.answer.startswith("Sure [EMAIL]! ")
        parts = set(session.execute(select(models.PendingOriginal.part)).scalars())
        assert parts == {"request", "answer"}

    worker = start_worker("shadow,judge,drift,alerts")
    wait_for(lambda: _verdicts() == 2, timeout=120)
    wait_for(lambda: _pending() == 0, timeout=30)

    with session_scope() as session:
        runs = session.execute(select(models.ShadowRun)).scalars().all()
        # The flagship found its recorded answer: it was asked the original prompt.
        assert [r.status for r in runs] == ["ok", "ok"], [r.error for r in runs]
        assert all(r.answer.startswith("Write to [EMAIL] for a refund.") for r in runs)
        verdict = session.execute(
            select(models.Verdict).where(models.Verdict.kind == "gap")
        ).scalar_one()
        # Answer match on the originals: both end in the same final answer.
        assert verdict.winner == "tie", verdict.rationale
    everything = _everything_stored()
    for secret in (EMAIL, "4111 1111", "555-0143", "jane.doe"):
        assert secret not in everything, secret
        assert secret not in worker.log(), secret
    assert "[EMAIL]" in everything

    # What the read API and the dashboard show is the redacted text.
    page = client.get("/segments/tenant%3Dacme", headers=auth("read")).text
    assert "[EMAIL]" in page and EMAIL not in page


def _verdicts() -> int:
    with session_scope() as session:
        return session.execute(select(func.count()).select_from(models.Verdict)).scalar_one()


def test_redact_before_flagship_sends_the_redacted_prompt(
    embedded: str,
    configure: Callable[..., None],
    client: TestClient,
    tmp_path: Path,
) -> None:
    event = _pii_event("pii-2")
    configure(
        sampling_budget_fraction=1.0,
        redact_before_flagship="true",
        recorded_answers_path=_recorded(tmp_path, event),
    )
    assert client.post("/v1/events", json=[event], headers=auth()).json()["sampled"] == 1
    # No original is kept at all: the flagship is sent the redacted prompt, which the
    # recorded flagship (keyed by the original) does not know.
    assert _pending() == 0
    from shadowgap.config import get_settings
    from shadowgap.shadow.runs import prepare_shadow

    with session_scope() as session:
        pk = session.execute(select(models.TrafficEvent.id)).scalar_one()
        prepared = prepare_shadow(session, pk, 0, get_settings())
    assert "[EMAIL]" in prepared.messages[0]["content"]
    assert EMAIL not in json.dumps(prepared.messages)


def test_redaction_can_be_turned_off(
    embedded: str, configure: Callable[..., None], client: TestClient
) -> None:
    configure(redact="")
    client.post("/v1/events", json=[_pii_event("pii-3")], headers=auth())
    with session_scope() as session:
        stored = session.execute(text("SELECT answer FROM traffic_events")).scalar_one()
    assert EMAIL in stored
