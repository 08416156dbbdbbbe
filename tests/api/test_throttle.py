"""The throttle on guessing (issue 22, item 6), on PostgreSQL, at the shipped limits.

On main, 300 wrong keys on /login in half a second were all answered, and then the right key
signed in; 200 wrong bearer keys were 200 plain 401s. Now a client (or a key prefix) past the
limit gets 429 with Retry-After: /login stops checking keys at all (the right one included),
while a bearer key is checked first, so a valid ingest key is never blocked, even from the
address a guesser shares.
"""

from __future__ import annotations

import secrets
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from shadowgap.api.app import create_app
from shadowgap.config import InvalidSettings, Settings, get_settings
from shadowgap.db import models
from shadowgap.db.engine import get_sessionmaker
from tests.support.factories import native_event
from tests.support.live_api import start_apis
from tests.support.otlp import openinference_span, otlp_json
from tests.support.settings import ADMIN_KEY, API_KEY, API_KEYS, READ_KEY, auth

DEFAULT_LOGIN_LIMIT = 10
DEFAULT_KEY_LIMIT = 100
WINDOW = 300
PREFIX_CHARS = 8


def _clear_of_window_edge(margin_s: float) -> None:
    """Counts reset where a fixed window ends: a test that straddled an edge would see two
    windows' worth of attempts. Start it at least ``margin_s`` before the next edge."""
    remaining = WINDOW - time.time() % WINDOW
    if remaining < margin_s:
        time.sleep(remaining + 0.5)


@pytest.fixture(autouse=True)
def _in_one_window() -> None:
    _clear_of_window_edge(20)


@pytest.fixture
def app(production: str) -> Iterator[FastAPI]:
    """One application, started (its ingest writer runs), that every address below calls."""
    application = create_app()
    with TestClient(application):
        yield application


def _from(app: FastAPI, address: str) -> TestClient:
    return TestClient(app, base_url="https://testserver", client=(address, 40000))


def _guess() -> str:
    """A wrong key with a prefix of its own (so only the client's bucket fills)."""
    return secrets.token_urlsafe(24)


def _login(client: TestClient | httpx.Client, key: str) -> httpx.Response:
    return client.post("/login", data={"key": key, "next": "/"}, follow_redirects=False)


def _retry_after(response: httpx.Response) -> int:
    value = int(response.headers["retry-after"])
    assert 1 <= value <= WINDOW
    return value


def _events() -> int:
    with get_sessionmaker()() as session:
        return int(session.scalar(select(func.count()).select_from(models.TrafficEvent)) or 0)


def test_the_tests_run_at_the_shipped_limits() -> None:
    fields = Settings.model_fields
    assert fields["login_max_failures"].default == DEFAULT_LOGIN_LIMIT
    assert fields["key_max_failures"].default == DEFAULT_KEY_LIMIT
    assert fields["throttle_window_seconds"].default == WINDOW
    assert fields["throttle_key_prefix_chars"].default == PREFIX_CHARS


def test_300_wrong_sign_ins_then_the_right_key_is_refused_too(app: FastAPI) -> None:
    guesser = _from(app, "198.51.100.7")
    answers = [_login(guesser, _guess()).status_code for _ in range(300)]
    assert answers == [401] * DEFAULT_LOGIN_LIMIT + [429] * (300 - DEFAULT_LOGIN_LIMIT)
    # The right key is not even checked: the form confirms no guess while throttled.
    right = _login(guesser, ADMIN_KEY)
    assert right.status_code == 429 and "Too many failed sign-ins" in right.text
    _retry_after(right)
    assert "shadowgap_session" not in right.headers.get("set-cookie", "")
    # Another address signs in.
    assert _login(_from(app, "198.51.100.8"), ADMIN_KEY).status_code == 303


def test_successful_sign_ins_use_up_nothing(app: FastAPI) -> None:
    person = _from(app, "198.51.100.20")
    for _ in range(DEFAULT_LOGIN_LIMIT + 5):
        assert _login(person, READ_KEY).status_code == 303
    for _ in range(DEFAULT_LOGIN_LIMIT):
        assert _login(person, _guess()).status_code == 401
    assert _login(person, _guess()).status_code == 429


def test_sign_ins_are_throttled_per_key_prefix_across_addresses(app: FastAPI) -> None:
    """Guesses at one key's known beginning from many addresses: the prefix's bucket fills.
    The cost, documented: the real key with that prefix cannot sign in on the form until the
    window ends (it still works as a bearer key); keys with other prefixes can."""
    prefix = ADMIN_KEY[:PREFIX_CHARS]
    for i in range(DEFAULT_LOGIN_LIMIT):
        assert _login(_from(app, f"192.0.2.{i + 1}"), prefix + _guess()).status_code == 401
    assert _login(_from(app, "192.0.2.200"), prefix + _guess()).status_code == 429
    assert _login(_from(app, "192.0.2.201"), ADMIN_KEY).status_code == 429
    assert _login(_from(app, "192.0.2.202"), READ_KEY).status_code == 303
    assert _from(app, "192.0.2.203").get("/v1/alerts", headers=auth("admin")).status_code == 200


def test_wrong_bearer_keys_are_throttled_and_a_valid_key_never_is(app: FastAPI) -> None:
    """A guesser and a real sender behind one address (a NAT, a cluster's egress)."""
    shared = _from(app, "203.0.113.9")
    wrong = [
        shared.post("/v1/events", json=[], headers={"Authorization": f"Bearer {_guess()}"})
        for _ in range(200)
    ]
    statuses = [r.status_code for r in wrong]
    assert statuses == [401] * DEFAULT_KEY_LIMIT + [429] * (200 - DEFAULT_KEY_LIMIT)
    assert wrong[0].headers["www-authenticate"] == "Bearer"
    _retry_after(wrong[-1])
    assert "retry in" in wrong[-1].json()["error"]
    # The read API counts in the same buckets.
    read = shared.get("/v1/alerts", headers={"Authorization": f"Bearer {_guess()}"})
    assert read.status_code == 429
    _retry_after(read)
    # The real sender, same address, right during the attack: stored.
    sent = shared.post("/v1/events", json=[native_event("e-throttled-1")], headers=auth())
    assert sent.status_code == 200 and sent.json()["new"] == 1
    assert _events() == 1
    assert shared.get("/v1/alerts", headers=auth("read")).status_code == 200


def test_wrong_bearer_keys_are_throttled_per_key_prefix(app: FastAPI) -> None:
    prefix = API_KEY[:PREFIX_CHARS]
    for i in range(DEFAULT_KEY_LIMIT):
        response = _from(app, f"10.9.{i // 200}.{i % 200 + 1}").post(
            "/v1/events", json=[], headers={"Authorization": f"Bearer {prefix}{_guess()}"}
        )
        assert response.status_code == 401
    late = _from(app, "10.9.9.9").post(
        "/v1/events", json=[], headers={"Authorization": f"Bearer {prefix}{_guess()}"}
    )
    assert late.status_code == 429
    # The key those guesses aimed at still sends, from anywhere.
    sent = _from(app, "10.9.9.10").post(
        "/v1/events", json=[native_event("e-prefix-1")], headers=auth()
    )
    assert sent.status_code == 200


def test_otlp_answers_429_with_retry_after(app: FastAPI, configure: Callable[..., None]) -> None:
    configure(key_max_failures="1")
    client = _from(app, "203.0.113.50")
    body = otlp_json([openinference_span("00f067aa0ba902b7", "What is 2+2?", "4")])
    headers = {"Content-Type": "application/json"}
    first = client.post("/v1/traces", content=body, headers={**headers, **_bearer(_guess())})
    assert first.status_code == 401
    second = client.post("/v1/traces", content=body, headers={**headers, **_bearer(_guess())})
    assert second.status_code == 429
    _retry_after(second)
    assert second.json()["code"] == 8  # google.rpc.Code RESOURCE_EXHAUSTED
    ok = client.post("/v1/traces", content=body, headers={**headers, **auth()})
    assert ok.status_code == 200 and _events() == 1


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("login_max_failures", "-1", "greater than or equal to 0"),
        ("key_max_failures", "many", "valid integer"),
        ("throttle_window_seconds", "0", "greater than or equal to 1"),
        ("throttle_key_prefix_chars", "65", "less than or equal to 64"),
    ],
)
def test_throttle_settings_are_validated(
    configure: Callable[..., None], name: str, value: str, message: str
) -> None:
    configure(**{name: value})
    with pytest.raises(InvalidSettings) as raised:
        get_settings()
    assert str(raised.value).startswith(f"invalid setting SHADOWGAP_{name.upper()}: ")
    assert message in str(raised.value)


def test_two_api_processes_share_the_counts(
    production: str, redis_url: str, tmp_path: Path
) -> None:
    """150 wrong sign-ins at once, spread over two API processes on one database: exactly
    the limit are checked (each attempt's count is an atomic increment), the rest are 429;
    then wrong bearer keys split between the processes add up to one limit."""
    started = start_apis(2, production, redis_url, tmp_path, api_keys=API_KEYS)
    ports, apis = [port for port, _ in started], [api for _, api in started]
    _clear_of_window_edge(90)  # starting two processes on this machine can take 30 s
    try:
        clients = [httpx.Client(base_url=f"http://127.0.0.1:{port}") for port in ports]

        def attempt(i: int) -> int:
            return _login(clients[i % 2], _guess()).status_code

        with ThreadPoolExecutor(max_workers=12) as pool:
            answers = Counter(pool.map(attempt, range(150)))
        assert answers == {401: DEFAULT_LOGIN_LIMIT, 429: 150 - DEFAULT_LOGIN_LIMIT}
        for client in clients:
            assert _login(client, ADMIN_KEY).status_code == 429

        half = DEFAULT_KEY_LIMIT // 2
        for client in clients:
            for _ in range(half):
                wrong = client.get("/v1/segments", headers=_bearer(_guess()))
                assert wrong.status_code == 401
        for client in clients:
            assert client.get("/v1/segments", headers=_bearer(_guess())).status_code == 429
            sent = client.post(
                "/v1/events", json=[native_event(secrets.token_hex(8))], headers=auth()
            )
            assert sent.status_code == 200
    finally:
        for api in apis:
            api.terminate()
            api.wait(timeout=20)
