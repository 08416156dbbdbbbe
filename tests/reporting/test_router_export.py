"""shadowgap export-pairs: judged pairs as Chatbot-Arena battles, on PostgreSQL and SQLite."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from sqlalchemy import select
from typer.testing import CliRunner

from benchmarks.attribution_scenarios import BASE, generate
from shadowgap.cli.main import app
from shadowgap.db.engine import session_scope
from shadowgap.db.models import Segment, ShadowRun, Verdict
from tests.support.attribution_store import store_period

START = datetime(2026, 11, 2, tzinfo=UTC)
ARENA_KEYS = {"prompt", "model_a", "model_b", "response_a", "response_b", "winner"}


def _seed() -> dict[str, int]:
    """Two segments of 400 events a day apart each; shadow runs for the judged ones."""
    rng = np.random.default_rng(3)
    judged = {}
    with session_scope() as session:
        for key in ("tenant=acme", "tenant=hooli"):
            segment = Segment(key=key, dimensions={})
            session.add(segment)
            session.flush()
            period = generate(BASE, 400, rng)
            store_period(session, segment, period, START, timedelta(minutes=10), key, ["2+2?"])
            verdicts = session.scalars(select(Verdict).where(Verdict.segment_id == segment.id))
            for n, verdict in enumerate(verdicts):
                # One verdict of each kind of outcome the judge can give.
                verdict.winner = ("flagship", "cheap", "tie")[n % 3]
                session.add(
                    ShadowRun(
                        event_pk=verdict.event_pk,
                        replicate=0,
                        status="ok",
                        client="recorded",
                        model="big-model",
                        answer=f"flagship answer {verdict.event_pk}",
                    )
                )
                judged[key] = judged.get(key, 0) + 1
    return judged


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["export-pairs", *args])
    return result.exit_code, result.output


def test_export_writes_arena_battles(any_db: str, tmp_path: Path) -> None:
    judged = _seed()
    out = tmp_path / "battles.jsonl"
    since, until = START.isoformat()[:19], (START + timedelta(days=30)).isoformat()[:19]
    code, output = _run("--since", since, "--until", until, "--out", str(out))
    assert code == 0, output
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(lines) == sum(judged.values())
    assert f"{len(lines)} battles" in output
    for battle in lines:
        assert ARENA_KEYS <= set(battle)
        assert battle["winner"] in ("model_a", "model_b", "tie")
        assert battle["model_a"] == "small-model" and battle["model_b"] == "big-model"
        assert battle["prompt"] == "2+2?"
        assert battle["response_b"].startswith("flagship answer")
        # The scenario judges cheap requests with probability 0.1 or 0.3.
        assert min(abs(battle["weight"] - 10.0), abs(battle["weight"] - 1 / 0.3)) < 1e-9
        assert 0 <= battle["router_score"] < 1
    assert {b["winner"] for b in lines} == {"model_a", "model_b", "tie"}

    code, output = _run("--since", since, "--until", until, "--segment", "tenant=hooli")
    rows = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    assert code == 0 and len(rows) == judged["tenant=hooli"]
    assert {r["segment"] for r in rows} == {"tenant=hooli"}

    # The window is on the request time: the first day holds 144 of each segment's events.
    code, output = _run("--since", since, "--until", (START + timedelta(days=1)).isoformat()[:19])
    day = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    assert 0 < len(day) < len(lines)
    assert all(b["tstamp"] < (START + timedelta(days=1)).timestamp() for b in day)


def test_bad_arguments_are_refused(embedded: str) -> None:
    _seed()
    code, output = _run("--since", "2026-11-03", "--until", "2026-11-02")
    assert code != 0 and "--until" in output
    code, output = _run("--since", "2026-11-01", "--until", "2026-11-02", "--segment", "nope")
    assert code != 0 and "--segment" in output
