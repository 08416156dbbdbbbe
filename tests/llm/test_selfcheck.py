"""The embedded model's self-check: a model that crashes is reported, never a dead process.

The crash is real: a stand-in ``llama_cpp`` package on the child's PYTHONPATH segfaults
(``faulthandler._sigsegv``) when a model is loaded, as a llama.cpp build that does not suit the
CPU does. The project's own processes never import it: only the self-check's child does.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from shadowgap.db import models
from shadowgap.db.engine import session_scope
from shadowgap.errors import EmbeddedModelUnavailable
from shadowgap.llm import selfcheck
from tests.conftest import auth, wait_for
from tests.factories import native_event

CRASHING_LLAMA = """
import faulthandler


class Llama:
    def __init__(self, *args, **kwargs):
        faulthandler._sigsegv()
"""


@pytest.fixture
def crashing_llama(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A GGUF path and a PYTHONPATH under which loading any model segfaults."""
    package = tmp_path / "crashing" / "llama_cpp"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(CRASHING_LLAMA)
    existing = os.environ.get("PYTHONPATH")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(package.parent), existing])))
    model = tmp_path / "model.gguf"
    model.write_bytes(b"GGUF")
    return model


def test_a_crashing_model_is_reported_with_the_cause_and_the_fix(crashing_llama: Path) -> None:
    result = selfcheck.run_check(crashing_llama, 2048)
    assert not result.ok
    assert result.problem is not None
    assert "SIGSEGV" in result.problem
    assert "rebuild llama-cpp-python" in result.problem
    assert "\n" not in result.problem


def test_the_client_refuses_instead_of_crashing(
    crashing_llama: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shadowgap.llm.llama_cpp_client import LlamaCppClient

    monkeypatch.setattr(selfcheck, "_RESULTS", {})
    with pytest.raises(EmbeddedModelUnavailable, match="SIGSEGV"):
        LlamaCppClient(crashing_llama)
    # This process is alive and the answer is kept: a second client does not re-run the check.
    assert selfcheck.last_problem() is not None
    with pytest.raises(EmbeddedModelUnavailable):
        LlamaCppClient(crashing_llama)


def test_a_worker_whose_model_crashes_keeps_working_and_reports_it(
    embedded: str, configure, crashing_llama: Path, client: TestClient, start_worker
) -> None:
    configure(
        judge="pairwise",
        llama_model_path=crashing_llama,
        sampling_budget_fraction=1.0,
        sampling_warmup_events=0,
        noise_floor_fraction=0.0,
    )
    worker = start_worker()
    events = [native_event(f"crash-{i}", row=i) for i in range(3)]
    assert client.post("/v1/events", json=events, headers=auth()).json()["sampled"] == 3

    def runs() -> int:
        with session_scope() as session:
            return session.execute(select(func.count()).select_from(models.ShadowRun)).scalar_one()

    # The flagship re-runs need no model: they all land. Each judge job fails with the reason.
    wait_for(lambda: runs() == 3, timeout=120)
    wait_for(lambda: worker.log().count("EmbeddedModelUnavailable") >= 3, timeout=120)
    assert worker.process.poll() is None, worker.log()[-3000:]
    assert "SIGSEGV" in worker.log()
    with session_scope() as session:
        verdicts = session.execute(select(func.count()).select_from(models.Verdict)).scalar_one()
    assert verdicts == 0

    # The worker still takes work after the failures.
    more = [native_event(f"after-{i}", row=10 + i) for i in range(2)]
    client.post("/v1/events", json=more, headers=auth())
    wait_for(lambda: runs() == 5, timeout=120)
    assert worker.process.poll() is None

    # Operators see it where they look: /readyz (from the worker's heartbeat).
    def reported() -> object:
        body = client.get("/readyz").json()
        problems = body["workers"]["embedded_model"]
        return problems if problems != "ok" else None

    problems = wait_for(reported, timeout=60)
    assert isinstance(problems, list) and "SIGSEGV" in problems[0]


def test_the_segment_page_says_its_judge_cannot_run(
    embedded: str, configure, client: TestClient
) -> None:
    from datetime import UTC, datetime

    from shadowgap.worker.heartbeats import record_heartbeat

    configure(judge="pairwise")
    client.post("/v1/events", json=[native_event("page-1")], headers=auth())
    problem = "llama.cpp crashed (SIGSEGV) answering a self-check prompt with model.gguf"
    with session_scope() as session:
        record_heartbeat(session, "w1@host", 1, ["judge"], datetime.now(UTC), problem)
        key = session.execute(select(models.Segment.key)).scalar_one()
    page = client.get(f"/segments/{key}", headers=auth("admin"))
    assert page.status_code == 200
    assert 'id="judge-unavailable"' in page.text
    assert "The pairwise judge cannot run on the embedded model: w1@host: llama.cpp crashed" in (
        page.text
    )
    # answer-match needs no model: nothing to say.
    configure(judge="answer-match")
    assert (
        'id="judge-unavailable"' not in client.get(f"/segments/{key}", headers=auth("admin")).text
    )
