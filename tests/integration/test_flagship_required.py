"""There is no default flagship: until one is configured, workers leave the shadow queue alone
and sampled events wait there; once a worker with a flagship starts, nothing was lost."""

from __future__ import annotations

import time

import pytest
import redis
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from shadowgap.config import Settings
from shadowgap.db import models
from shadowgap.db.engine import session_scope
from shadowgap.errors import FlagshipNotConfigured
from shadowgap.llm.factory import build_flagship_client, flagship_problem
from tests.support.factories import native_event
from tests.support.processes import wait_for
from tests.support.settings import GSM8K_CSV, auth, reset_all_caches


def test_settings_without_a_flagship_are_refused_with_a_clear_error() -> None:
    assert Settings().flagship_client is None
    with pytest.raises(FlagshipNotConfigured, match="SHADOWGAP_FLAGSHIP_CLIENT"):
        build_flagship_client(Settings())
    assert "SHADOWGAP_RECORDED_ANSWERS_PATH" in (
        flagship_problem(Settings(flagship_client="recorded")) or ""
    )
    assert "SHADOWGAP_FLAGSHIP_BASE_URL" in (
        flagship_problem(Settings(flagship_client="openai")) or ""
    )
    assert (
        flagship_problem(Settings(flagship_client="recorded", recorded_answers_path=str(GSM8K_CSV)))
        is None
    )
    # A path to no file stops the settings from loading at all.
    with pytest.raises(ValueError, match="no such file"):
        Settings(flagship_client="recorded", recorded_answers_path="x.csv")


def _runs() -> int:
    with session_scope() as session:
        return session.scalar(select(func.count()).select_from(models.ShadowRun)) or 0


def test_events_wait_for_a_flagship_and_nothing_is_lost(
    production: str,
    redis_url: str,
    configure,
    monkeypatch: pytest.MonkeyPatch,
    client: TestClient,
    start_worker,
) -> None:
    configure(sampling_budget_fraction=1.0, sampling_warmup_events=0, noise_floor_fraction=0.0)
    monkeypatch.delenv("SHADOWGAP_FLAGSHIP_CLIENT")
    monkeypatch.delenv("SHADOWGAP_RECORDED_ANSWERS_PATH")
    reset_all_caches()
    events = [native_event(f"w-{i}", row=i) for i in range(5)]
    assert client.post("/v1/events", json=events, headers=auth()).json()["sampled"] == 5
    assert "SHADOWGAP_FLAGSHIP_CLIENT" in client.get("/readyz").json()["flagship"]

    with pytest.raises(RuntimeError, match="refusing to consume the shadow queue"):
        start_worker("shadow")  # a shadow-only worker without a flagship does not start
    worker = start_worker()
    assert "not consuming the shadow queue: no flagship is configured" in worker.log()
    wait_for(lambda: "drift.update" in worker.log(), timeout=60)  # it works the other queues
    time.sleep(3)
    assert _runs() == 0
    assert redis.Redis.from_url(redis_url).llen("shadow") == 5  # waiting, not dropped
    worker.stop()

    configure(flagship_client="recorded", recorded_answers_path=GSM8K_CSV)
    start_worker()
    wait_for(lambda: _runs() == 5, timeout=120)
    assert client.get("/readyz").json()["flagship"] == "ok"
