"""There is no default cheap model, as there is no default flagship: until one is configured
the reverse shadow is off, and /readyz and the segment page say so in one line. (The default
was ``recorded``, reading the demo's answers relative to the working directory: in production
every reverse re-run failed with "recorded answers not found".)"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient

from shadowgap.attribution.reverse_shadow import sample_reverse
from shadowgap.config import Settings, get_settings
from shadowgap.db.engine import session_scope
from shadowgap.llm.factory import cheap_problem
from tests.attribution.test_reverse_shadow import _events
from tests.support.settings import auth


def _ingest_near_threshold(client: TestClient) -> datetime:
    now = datetime.now(UTC) - timedelta(minutes=1)
    assert client.post("/v1/events", json=_events(now), headers=auth()).status_code == 200
    return now


def test_without_a_cheap_model_the_reverse_shadow_is_off(
    embedded: str, configure: Callable[..., None], client: TestClient
) -> None:
    configure(reverse_shadow_rate=1.0, reverse_shadow_band=0.5)
    assert get_settings().cheap_client is None
    now = _ingest_near_threshold(client)
    with session_scope() as session:
        assert sample_reverse(session, get_settings(), now + timedelta(seconds=1)) == []

    ready = client.get("/readyz").json()
    assert ready["reverse_shadow"].startswith("no cheap model is configured")
    assert "SHADOWGAP_CHEAP_CLIENT" in ready["reverse_shadow"]
    page = client.get("/segments/tenant%3Dacme", headers=auth("read")).text
    assert page.count("Reverse shadow off: no cheap model is configured") == 1


def test_a_configured_cheap_model_turns_it_on(
    embedded: str, configure: Callable[..., None], client: TestClient, tmp_path: Path
) -> None:
    answers = tmp_path / "cheap.jsonl"
    answers.write_text('{"prompt": "p", "answer": "a"}\n')
    configure(
        reverse_shadow_rate=1.0,
        reverse_shadow_band=0.5,
        cheap_client="recorded",
        cheap_recorded_answers_path=str(answers),
    )
    now = _ingest_near_threshold(client)
    with session_scope() as session:
        assert sample_reverse(session, get_settings(), now + timedelta(seconds=1)) != []
    assert client.get("/readyz").json()["reverse_shadow"] == "ok"
    page = client.get("/segments/tenant%3Dacme", headers=auth("read")).text
    assert "Reverse shadow off" not in page


def test_what_is_missing_is_named() -> None:
    assert "SHADOWGAP_CHEAP_BASE_URL" in (cheap_problem(Settings(cheap_client="openai")) or "")
    assert cheap_problem(Settings(cheap_client="openai", cheap_base_url="http://x/v1")) is None
