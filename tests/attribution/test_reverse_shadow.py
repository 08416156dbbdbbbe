"""The reverse shadow end to end: ingest, beat's sampling task and the re-run on a real worker
with the recorded cheap client, judged into 'reverse' verdicts the what-if reads."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import select

from shadowgap.db import models
from shadowgap.db.engine import session_scope
from shadowgap.shadow.sampling import hash_unit
from shadowgap.worker import queue
from tests.support.factories import gsm8k_rows, native_event
from tests.support.processes import wait_for
from tests.support.settings import auth

RATE = 0.5
SALT = "reverse-test"


def _events(now: datetime) -> list[dict]:
    """40 cheap requests scored below 0.5, 60 flagship ones scored 0.5 .. 0.99."""
    events = []
    for i in range(100):
        cheap = i < 40
        score = 0.01 * i if cheap else 0.5 + 0.5 * (i - 40) / 60
        event = native_event(f"r-{i}", tier="cheap" if cheap else "flagship", row=i, at=now)
        event["route"]["score"] = round(score, 4)
        events.append(event)
    return events


def test_reverse_shadow_reruns_near_threshold_on_a_real_worker(
    any_db: str, configure, client: TestClient, start_worker, tmp_path: Path
) -> None:
    client.headers.update(auth("read"))
    # The recorded cheap model answers every prompt with a fixed, wrong number: against the
    # flagship's recorded GSM8K answers the answer-match judge sees the flagship win.
    cheap_answers = tmp_path / "cheap.jsonl"
    with cheap_answers.open("w") as handle:
        for row in gsm8k_rows()[:100]:
            handle.write(
                json.dumps({"prompt": row["prompt"], "answer": "The answer is 123456789."})
            )
            handle.write("\n")
    configure(
        reverse_shadow_rate=RATE,
        reverse_shadow_band=0.2,
        sampling_salt=SALT,
        sampling_budget_fraction=0.0,
        sampling_min_rate=0.0,
        cheap_client="recorded",
        cheap_recorded_answers_path=str(cheap_answers),
        cheap_model="recorded-cheap",
    )
    now = datetime.now(UTC) - timedelta(minutes=1)
    events = _events(now)
    assert client.post("/v1/events", json=events, headers=auth()).status_code == 200
    # The inferred threshold is midway between the top cheap score (0.39) and the lowest
    # flagship one (0.5): 0.445; the band takes flagship scores up to 0.645, half of them drawn.
    expected = {
        e["event_id"]
        for e in events
        if e["route"]["tier"] == "flagship"
        and e["route"]["score"] <= 0.645
        and hash_unit(SALT + ":reverse", e["event_id"]) < RATE
    }
    assert 3 <= len(expected) < 24

    start_worker()
    queue.send("shadow.reverse_sample", [])

    def reverse_verdicts() -> list[models.Verdict]:
        with session_scope() as session:
            return list(
                session.scalars(select(models.Verdict).where(models.Verdict.kind == "reverse"))
            )

    wait_for(lambda: len(reverse_verdicts()) == len(expected), timeout=120)
    with session_scope() as session:
        samples = list(session.scalars(select(models.ReverseSample)))
        judged = session.scalars(
            select(models.TrafficEvent.event_id)
            .join(models.Verdict, models.Verdict.event_pk == models.TrafficEvent.id)
            .where(models.Verdict.kind == "reverse")
        ).all()
        runs = list(
            session.scalars(select(models.ShadowRun).where(models.ShadowRun.replicate == 2))
        )
        forward = session.scalar(select(models.Verdict.id).where(models.Verdict.kind == "gap"))
    assert set(judged) == expected
    assert all(s.enqueued_at is not None and s.inclusion_probability == RATE for s in samples)
    assert samples[0].threshold == 0.445
    assert {r.model for r in runs} == {"recorded-cheap"} and all(r.answer for r in runs)
    assert {v.winner for v in reverse_verdicts()} == {"flagship"}
    assert all(v.inclusion_probability == RATE for v in reverse_verdicts())
    assert forward is None  # only the reverse shadow ran

    # A second scan draws nothing new and sends nothing twice.
    queue.send("shadow.reverse_sample", [])
    with session_scope() as session:
        assert len(list(session.scalars(select(models.ReverseSample)))) == len(expected)

    body = client.get("/v1/segments/tenant=acme/thresholds").json()
    assert body["reverse_pairs"] == len(expected)
