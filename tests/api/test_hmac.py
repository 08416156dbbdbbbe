"""Signed ingest: the timestamp must be integer unix seconds inside the replay window.

Each refused request is correctly signed for the timestamp it carries, so only the timestamp
check can refuse it; nothing it carried may be stored.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from shadowgap.api.auth.signing import sign
from shadowgap.db import models
from shadowgap.db.engine import session_scope
from tests.support.factories import native_event
from tests.support.settings import auth

SECRET = "s3cret-signing-key"
WINDOW = 300


def _post(client: TestClient, timestamp: str, event_id: str) -> tuple[int, str]:
    body = json.dumps(native_event(event_id)).encode()
    headers = {
        **auth(),
        "Content-Type": "application/json",
        "X-Shadowgap-Timestamp": timestamp,
        "X-Shadowgap-Signature": sign(SECRET, timestamp, body),
    }
    response = client.post("/v1/events", content=body, headers=headers)
    return response.status_code, response.text


def _stored() -> int:
    with session_scope() as session:
        return session.execute(select(func.count()).select_from(models.TrafficEvent)).scalar_one()


@pytest.fixture
def signed(embedded: str, configure: Callable[..., None]) -> None:
    configure(hmac_secret=SECRET, hmac_window_seconds=WINDOW)


@pytest.mark.parametrize(
    "timestamp",
    [
        "nan",
        "NaN",
        "inf",
        "-inf",
        "Infinity",
        "1e9",
        "1700000000.5",
        "0x6553f100",
        "-5",
        "+1",
        "",
        " ",
    ],
)
def test_non_integer_timestamps_are_refused(
    signed: None, client: TestClient, timestamp: str
) -> None:
    status, text = _post(client, timestamp, "t-1")
    assert status == 401, timestamp
    assert "X-Shadowgap-Timestamp" in text
    assert _stored() == 0


def test_float_of_the_current_second_is_refused(signed: None, client: TestClient) -> None:
    # Even a fraction of "now" is not an integer: one format only, so signatures are unambiguous.
    status, _ = _post(client, f"{time.time():.3f}", "t-2")
    assert status == 401 and _stored() == 0


@pytest.mark.parametrize("offset", [WINDOW + 5, 10**6, 10**11, -(WINDOW + 5), -(10**6)])
def test_outside_the_window_is_refused(signed: None, client: TestClient, offset: int) -> None:
    timestamp = str(int(time.time()) + offset)
    if offset < 0 and int(timestamp) < 0:
        pytest.skip("clock too early")
    status, text = _post(client, timestamp, f"w-{offset}")
    assert status == 401 and "replay window" in text
    assert _stored() == 0


def test_a_captured_request_replayed_after_the_window_is_refused(
    signed: None, client: TestClient
) -> None:
    body = json.dumps(native_event("cap-1")).encode()
    captured_at = str(int(time.time()) - WINDOW - 1)  # signed just over the window ago
    headers = {
        **auth(),
        "Content-Type": "application/json",
        "X-Shadowgap-Timestamp": captured_at,
        "X-Shadowgap-Signature": sign(SECRET, captured_at, body),
    }
    assert client.post("/v1/events", content=body, headers=headers).status_code == 401
    assert _stored() == 0


def test_inside_the_window_is_accepted(signed: None, client: TestClient) -> None:
    for offset, event_id in ((0, "in-0"), (-(WINDOW - 5), "in-past"), (WINDOW - 5, "in-future")):
        status, text = _post(client, str(int(time.time()) + offset), event_id)
        assert status == 200, text
    assert _stored() == 3
