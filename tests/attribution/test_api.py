"""GET /v1/segments/{key}/attribution on SQLite and PostgreSQL, with the cause injected."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from fastapi.testclient import TestClient

from benchmarks.attribution_scenarios import BASE, SCENARIOS, generate
from shadowgap.db.engine import session_scope
from shadowgap.db.models import Segment
from tests.support.attribution_store import store_period
from tests.support.settings import auth

START = datetime(2026, 11, 2, tzinfo=UTC)
N = 1500


def _seed(scenario: str) -> None:
    _, after = SCENARIOS[scenario]
    rng = np.random.default_rng(21)
    with session_scope() as session:
        segment = Segment(key="tenant=acme/eu", dimensions={"tenant": "acme/eu"})
        session.add(segment)
        session.flush()
        step = timedelta(days=7) / N
        store_period(session, segment, generate(BASE, N, rng), START, step, "b")
        after_start = START + timedelta(days=7)
        store_period(session, segment, generate(after, N, rng), after_start, step, "a")


def _windows() -> dict[str, str]:
    middle, end = START + timedelta(days=7), START + timedelta(days=14)
    return {
        "before": f"{START.isoformat()}/{middle.isoformat()}",
        "after": f"{middle.isoformat()}/{end.isoformat()}",
    }


@pytest.mark.parametrize("scenario", ["routing_share", "cheap_quality"])
def test_attribution_names_the_injected_cause(
    any_db: str, client: TestClient, configure, scenario: str
) -> None:
    client.headers.update(auth("read"))
    configure(attribution_resamples=99)
    _seed(scenario)
    factor = SCENARIOS[scenario][0]
    response = client.get("/v1/segments/tenant=acme/eu/attribution", params=_windows())
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["segment"] == "tenant=acme/eu"
    assert body["before"]["events"] == N and body["after"]["events"] == N
    assert body["before"]["judged_pairs"] > 50
    quality = body["quality"]
    shares = {f["factor"]: f["share"] for f in quality["factors"]}
    assert max(shares, key=lambda k: shares[k]) == factor
    assert sum(f["contribution"] for f in quality["factors"]) == pytest.approx(quality["change"])
    assert quality["change_ci"][0] < quality["change"] < quality["change_ci"][1]
    assert body["latency"]["before"] > 0 and body["cost"]["before"] > 0


def test_bad_windows_are_named(embedded: str, client: TestClient) -> None:
    client.headers.update(auth("read"))
    _seed("routing_share")
    url = "/v1/segments/tenant=acme/eu/attribution"
    response = client.get(url, params={"before": "yesterday/today", "after": _windows()["after"]})
    assert response.status_code == 422
    assert response.json()["detail"]["field"] == "before"
    response = client.get(url, params={"after": _windows()["after"]})
    assert response.status_code == 422 and response.json()["detail"]["field"] == "before"
    windows = _windows()
    start, end = windows["after"].split("/")
    response = client.get(url, params={"before": windows["before"], "after": f"{end}/{start}"})
    assert response.status_code == 422 and response.json()["detail"]["field"] == "after"
    response = client.get("/v1/segments/tenant=nobody/attribution", params=_windows())
    assert response.status_code == 404


def test_empty_window_is_reported_not_failed(embedded: str, client: TestClient) -> None:
    client.headers.update(auth("read"))
    _seed("routing_share")
    far = "2020-01-01T00:00:00Z/2020-01-08T00:00:00Z"
    response = client.get(
        "/v1/segments/tenant=acme/eu/attribution",
        params={"before": far, "after": _windows()["after"]},
    )
    assert response.status_code == 200
    assert response.json()["available"] is False
