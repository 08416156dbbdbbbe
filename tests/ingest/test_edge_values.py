"""Values that were accepted and should not have been: an event_id of only spaces, an OTLP
start time of 2^64-1 ns (stored as the year 2554), a gzip body on the native route (answered
with a 422 about UTF-8 surrogates)."""

from __future__ import annotations

import gzip
import json

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from shadowgap.db import models
from shadowgap.db.engine import session_scope
from tests.support.factories import native_event
from tests.support.otlp import openinference_span, otlp_json
from tests.support.settings import auth


def _events() -> int:
    with session_scope() as session:
        return int(session.execute(select(func.count(models.TrafficEvent.id))).scalar_one())


@pytest.mark.parametrize("event_id", [" ", "   ", "\u3000", " \u00a0 "])
def test_a_blank_event_id_is_a_422_naming_it(
    embedded: str, client: TestClient, event_id: str
) -> None:
    response = client.post("/v1/events", json=[native_event(event_id)], headers=auth())
    assert response.status_code == 422, response.text
    assert response.json()["detail"]["field"] == "event_id"
    assert _events() == 0


@pytest.mark.parametrize("start", ["18446744073709551615", str(4102444800 * 10**9)])
def test_an_otlp_start_time_far_in_the_future_is_refused(
    embedded: str, client: TestClient, start: str
) -> None:
    """Refused (the span, in partial_success), not clamped: a clamped time would be invented."""
    span = openinference_span("00f067aa0ba902b7", "What is 2+2?", "4")
    span["startTimeUnixNano"] = start
    span["endTimeUnixNano"] = start
    response = client.post(
        "/v1/traces",
        content=otlp_json([span]),
        headers={**auth(), "Content-Type": "application/json"},
    )
    assert response.status_code == 200, response.text
    partial = response.json()["partialSuccess"]
    assert partial["rejectedSpans"] == "1"
    assert "startTimeUnixNano" in partial["errorMessage"]
    assert "future" in partial["errorMessage"]
    assert _events() == 0


@pytest.mark.parametrize("route", ["/v1/events", "/v1/ingest/litellm"])
@pytest.mark.parametrize("declared", [True, False])
def test_a_compressed_body_is_a_415(
    embedded: str, client: TestClient, route: str, declared: bool
) -> None:
    body = gzip.compress(json.dumps([native_event("gz-1")]).encode())
    headers = {**auth(), "Content-Type": "application/json"}
    if declared:
        headers["Content-Encoding"] = "gzip"
    response = client.post(route, content=body, headers=headers)
    assert response.status_code == 415, response.text
    assert "compressed bodies are not accepted here" in response.json()["error"]
    assert _events() == 0
