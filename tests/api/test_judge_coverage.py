"""GET /v1/segments/{key} says how much of a segment's traffic its judge can compare: a
segment of essays judged by answer-match is flagged for a pairwise judge, a segment of worked
math answers is not (real MT-Bench and GSM8K answers, judged by the real judge; SQLite and
PostgreSQL)."""

from __future__ import annotations

from urllib.parse import quote

from fastapi.testclient import TestClient
from sqlalchemy import select

from shadowgap.db import models
from shadowgap.db.engine import session_scope
from shadowgap.judging.answer_match import AnswerMatchJudge
from shadowgap.judging.datasets import load_gsm8k, load_mtbench
from tests.support.factories import native_event
from tests.support.settings import auth

PAIRS = 12


def _judged_segment(client: TestClient, tenant: str, pairs: list[tuple[str, str, str]]) -> None:
    events = [native_event(f"{tenant}-{i}", tenant=tenant, row=i) for i in range(len(pairs))]
    response = client.post("/v1/events", json=events, headers=auth())
    assert response.status_code == 200, response.text
    judge = AnswerMatchJudge()
    with session_scope() as session:
        stored = session.scalars(
            select(models.TrafficEvent)
            .where(models.TrafficEvent.event_id.in_([e["event_id"] for e in events]))
            .order_by(models.TrafficEvent.id)
        ).all()
        for event, (question, cheap, flagship) in zip(stored, pairs, strict=True):
            verdict = judge.judge(question, cheap, flagship)
            session.add(
                models.Verdict(
                    event_pk=event.id,
                    segment_id=event.segment_id,
                    kind="gap",
                    judge=verdict.judge,
                    winner=verdict.winner,
                    gap_score=verdict.gap_score,
                    inclusion_probability=0.5,
                    raw=verdict.raw,
                    rationale=verdict.rationale,
                )
            )


def _judging(client: TestClient, key: str) -> dict[str, object]:
    response = client.get(f"/v1/segments/{quote(key)}", headers=auth("read"))
    assert response.status_code == 200, response.text
    return dict(response.json()["judging"])


def test_open_ended_segments_are_flagged_for_a_pairwise_judge(
    any_db: str, client: TestClient
) -> None:
    essays = [i for i in load_mtbench() if i.category in ("writing", "humanities")][:PAIRS]
    math = load_gsm8k()[:PAIRS]
    _judged_segment(client, "essays", [(i.question, i.cheap, i.flagship) for i in essays])
    _judged_segment(client, "math", [(r.question, r.cheap, r.flagship) for r in math])

    essay_view = _judging(client, "tenant=essays")
    assert essay_view["pairs"] == PAIRS and essay_view["judges"] == {"answer-match": PAIRS}
    assert float(essay_view["open_ended_share"]) >= 0.5  # type: ignore[arg-type]
    assert "SHADOWGAP_JUDGE_BY_SEGMENT" in str(essay_view["advice"])

    math_view = _judging(client, "tenant=math")
    assert math_view["open_ended"] == 0 and math_view["advice"] is None


def test_the_segment_page_shows_the_advice(any_db: str, client: TestClient) -> None:
    essays = [i for i in load_mtbench() if i.category == "writing"][:PAIRS]
    _judged_segment(client, "essays", [(i.question, i.cheap, i.flagship) for i in essays])
    page = client.get("/segments/tenant=essays", headers=auth("read")).text
    assert 'id="judge-advice"' in page and "pairwise judge" in page
    _judged_segment(client, "math", [(r.question, r.cheap, r.flagship) for r in load_gsm8k()[:3]])
    assert 'id="judge-advice"' not in client.get("/segments/tenant=math", headers=auth("read")).text
