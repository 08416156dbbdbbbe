"""Sessions that can be ended (issue 22, item 5), on PostgreSQL.

Sessions used to be signed cookies only: after sign-out a copied cookie still read
/v1/alerts and acknowledged alerts (with its CSRF token) for 12 hours. A cookie now names a
row of ``dashboard_sessions`` and is valid only while the row exists; sign-out deletes it, so
every API process refuses the cookie from then on.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from shadowgap.api.app import create_app
from shadowgap.api.auth import sessions
from shadowgap.config import get_settings
from shadowgap.db import models
from shadowgap.db.engine import get_sessionmaker
from tests.support.live_api import start_apis
from tests.support.settings import ADMIN_KEY, API_KEY, API_KEYS, READ_KEY

SAME_SITE = {"Sec-Fetch-Site": "same-origin"}
COOKIE = sessions.COOKIE_NAME


def _alert(tenant: str = "acme") -> int:
    with get_sessionmaker()() as session:
        segment = models.Segment(
            key=f"tenant={tenant}", dimensions={"tenant": tenant}, event_count=10, cheap_count=7
        )
        session.add(segment)
        session.flush()
        alert = models.Alert(
            segment_id=segment.id,
            signal="quality_gap",
            status="open",
            severity="error",
            evidence={"before": {"value": 0.1, "n": 500}, "after": {"value": 0.4, "n": 120}},
            opened_at=datetime.now(UTC),
        )
        session.add(alert)
        session.commit()
        return alert.id


def _status(alert_id: int) -> str:
    with get_sessionmaker()() as session:
        return str(session.get(models.Alert, alert_id).status)


def _token(page: str) -> str:
    return re.search(r'<meta name="csrf-token" content="([^"]+)">', page).group(1)


def _browser() -> TestClient:
    # https: the session cookie is Secure, so the client only sends it back over https.
    return TestClient(create_app(), base_url="https://testserver")


def _sign_in(client: TestClient, key: str = ADMIN_KEY, name: str = "") -> tuple[str, str]:
    """Sign in through the form; the cookie and the CSRF token of the pages."""
    response = client.post(
        "/login", data={"key": key, "name": name, "next": "/alerts"}, follow_redirects=False
    )
    assert response.status_code == 303, response.text
    page = client.get("/alerts")
    assert page.status_code == 200
    return client.cookies[COOKIE], _token(page.text)


def _copy_of(cookie: str) -> TestClient:
    """Another browser holding a copy of the cookie (what an attacker who took it has)."""
    client = _browser()
    client.cookies.set(COOKIE, cookie)
    return client


@pytest.fixture
def browser(production: str) -> Iterator[TestClient]:
    with _browser() as client:
        yield client


def test_sign_out_ends_the_session_for_every_copy_of_the_cookie(browser: TestClient) -> None:
    before, after = _alert("acme"), _alert("globex")
    cookie, token = _sign_in(browser, name="Ada")
    stolen = _copy_of(cookie)
    # Before sign-out the copy works like the original: it reads and it acknowledges.
    assert stolen.get("/v1/alerts").status_code == 200
    acked = stolen.post(f"/v1/alerts/{before}/ack", headers={**SAME_SITE, "X-CSRF-Token": token})
    assert acked.status_code == 200

    out = browser.post("/logout", data={"csrf_token": token}, follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/login"

    # The copy is refused everywhere: the read API, the pages, and a state change with the
    # token that used to go with it.
    assert stolen.get("/v1/alerts").status_code == 401
    assert stolen.get("/alerts", follow_redirects=False).status_code == 303
    refused = stolen.post(f"/v1/alerts/{after}/ack", headers={**SAME_SITE, "X-CSRF-Token": token})
    assert refused.status_code == 401
    assert _status(after) == "open"
    # Signing out is in the audit log next to the sign-in.
    with get_sessionmaker()() as session:
        actions = [
            (e.action, e.actor.split(" (")[0])
            for e in session.scalars(
                select(models.AuditEntry)
                .where(models.AuditEntry.alert_id.is_(None))
                .order_by(models.AuditEntry.id)
            )
        ]
    assert actions == [("sign-in", "Ada"), ("sign-out", "Ada")]


def test_sign_out_ends_only_that_session(browser: TestClient) -> None:
    """Two people signed in with the same key: one signing out leaves the other signed in
    (docs/security.md); ending every session of a key is removing the key."""
    mine, token = _sign_in(browser)
    with _browser() as colleague:
        theirs, _ = _sign_in(colleague)
        assert browser.post("/logout", data={"csrf_token": token}).status_code == 200
        assert _copy_of(mine).get("/v1/alerts").status_code == 401
        assert colleague.get("/v1/alerts").status_code == 200
        assert _copy_of(theirs).get("/v1/alerts").status_code == 200


def test_sign_out_needs_the_token_and_a_refused_sign_out_ends_nothing(
    browser: TestClient,
) -> None:
    cookie, _ = _sign_in(browser)
    refused = browser.post("/logout", data={"csrf_token": "wrong"}, follow_redirects=False)
    assert refused.status_code == 403
    assert _copy_of(cookie).get("/v1/alerts").status_code == 200


def test_the_table_holds_no_usable_session_id(browser: TestClient) -> None:
    cookie, _ = _sign_in(browser, READ_KEY)
    session = sessions.read_cookie(get_settings(), cookie)
    assert session is not None
    with get_sessionmaker()() as db:
        rows = db.scalars(select(models.DashboardSession)).all()
    assert [row.id_digest for row in rows] == [
        hashlib.sha256(session.session_id.encode()).hexdigest()
    ]
    assert session.session_id not in repr([vars(row) for row in rows])
    assert rows[0].scope == "read"


def test_removing_a_key_ends_its_sessions_for_good(
    browser: TestClient, configure: Callable[..., None]
) -> None:
    # A fixed signing secret, so that only the key's removal can end the session.
    configure(session_secret="a-fixed-session-secret-0123456789")
    cookie, _ = _sign_in(browser)
    kept, _ = _sign_in(_browser(), READ_KEY)
    assert _copy_of(cookie).get("/v1/alerts").status_code == 200
    configure(api_keys=f"{API_KEY},read:{READ_KEY}")  # the admin key is removed
    assert _copy_of(cookie).get("/v1/alerts").status_code == 401
    configure(api_keys=API_KEYS)  # and put back: its old sessions stay ended
    assert _copy_of(cookie).get("/v1/alerts").status_code == 401
    assert _copy_of(kept).get("/v1/alerts").status_code == 200
    with get_sessionmaker()() as db:
        assert [row.scope for row in db.scalars(select(models.DashboardSession))] == ["read"]


def test_an_expired_session_is_refused_and_swept(
    browser: TestClient, configure: Callable[..., None]
) -> None:
    cookie, _ = _sign_in(browser)
    with get_sessionmaker()() as db:
        row = db.scalars(select(models.DashboardSession)).one()
        row.expires_at = datetime(2020, 1, 1, tzinfo=UTC)
        db.commit()
    assert _copy_of(cookie).get("/v1/alerts").status_code == 401
    _sign_in(_browser(), READ_KEY)  # a sign-in deletes expired rows
    with get_sessionmaker()() as db:
        assert [row.scope for row in db.scalars(select(models.DashboardSession))] == ["read"]


def _cookie_of(response: httpx.Response) -> str:
    match = re.search(rf"{COOKIE}=([^;]+)", response.headers["set-cookie"])
    assert match, response.headers
    return match.group(1)


def test_two_api_processes_share_the_sessions(
    production: str, redis_url: str, tmp_path: Path
) -> None:
    """Signed in on one API process, signed out on another: both refuse the cookie."""
    first, second = _alert("acme"), _alert("globex")
    started = start_apis(2, production, redis_url, tmp_path, api_keys=API_KEYS)
    ports, apis = [port for port, _ in started], [api for _, api in started]
    try:
        a, b = (httpx.Client(base_url=f"http://127.0.0.1:{port}") for port in ports)
        login = a.post("/login", data={"key": ADMIN_KEY, "next": "/alerts"})
        assert login.status_code == 303, login.text
        cookie = {"Cookie": f"{COOKIE}={_cookie_of(login)}"}
        token = _token(b.get("/alerts", headers=cookie).text)
        ack = {**cookie, **SAME_SITE, "X-CSRF-Token": token}
        assert b.post(f"/v1/alerts/{first}/ack", headers=ack).status_code == 200

        out = b.post("/logout", data={"csrf_token": token}, headers=cookie)
        assert out.status_code == 303

        for api in (a, b):
            assert api.get("/v1/alerts", headers=cookie).status_code == 401
            assert api.post(f"/v1/alerts/{second}/ack", headers=ack).status_code == 401
        assert _status(second) == "open"
    finally:
        for api in apis:
            api.terminate()
            api.wait(timeout=20)
