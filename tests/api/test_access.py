"""Scopes, sign-in, CSRF and the audit log through the whole application (create_app).

Every route but /healthz and /readyz is asked without credentials and must refuse; keys are
checked per scope; ack/resolve are refused cross-site and without the page's CSRF token; a
sign-in with a key sets a Secure, HttpOnly, SameSite cookie; the audit log shows who did what.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import select

from shadowgap.api.app import create_app
from shadowgap.db import models
from shadowgap.db.engine import get_sessionmaker
from tests.support.settings import ADMIN_KEY, READ_KEY, auth

# /readyz/workers is the readiness probe of the workers: open like /readyz, for orchestrators.
OPEN_PATHS = {"/healthz", "/readyz", "/readyz/workers", "/login", "/static/{name}"}


def _alert(status: str = "open") -> int:
    with get_sessionmaker()() as session:
        segment = models.Segment(
            key="tenant=acme", dimensions={"tenant": "acme"}, event_count=10, cheap_count=7
        )
        session.add(segment)
        session.flush()
        alert = models.Alert(
            segment_id=segment.id,
            signal="quality_gap",
            status=status,
            severity="error",
            evidence={"before": {"value": 0.1, "n": 500}, "after": {"value": 0.4, "n": 120}},
            opened_at=datetime.now(UTC),
        )
        session.add(alert)
        session.commit()
        return alert.id


def _flatten(routes: list[Any]) -> list[APIRoute]:
    # FastAPI >= 0.160 keeps included routers as wrappers around the original router.
    found: list[APIRoute] = []
    for route in routes:
        if isinstance(route, APIRoute):
            found.append(route)
        elif hasattr(route, "original_router"):
            found.extend(_flatten(route.original_router.routes))
    return found


def _get_routes() -> list[str]:
    return [r.path for r in _flatten(create_app().routes) if "GET" in r.methods]


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)


def test_every_endpoint_but_health_needs_credentials(embedded: str, client: TestClient) -> None:
    paths = _get_routes()
    # The read API, the dashboard, the docs and the metrics are all there to be refused.
    for expected in (
        "/v1/segments",
        "/v1/alerts",
        "/",
        "/alerts",
        "/reports/{report_id}",
        "/metrics",
        "/docs",
        "/openapi.json",
    ):
        assert expected in paths, expected
    for path in paths:
        if path in OPEN_PATHS:
            continue
        response = client.get(_concrete(path), follow_redirects=False)
        if path.startswith("/v1/") or path in ("/metrics", "/openapi.json"):
            assert response.status_code == 401, path
            assert response.headers["www-authenticate"] == "Bearer"
            assert "authentication required" in response.json()["error"]
        else:  # pages send a browser to the sign-in form, remembering where it was going
            assert response.status_code == 303, path
            assert response.headers["location"].startswith("/login?next=/"), path
    for path in ("/v1/events", "/v1/ingest/litellm", "/v1/alerts/1/ack", "/v1/alerts/1/resolve"):
        assert client.post(path, json={}).status_code == 401, path
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code in (200, 503)


def test_scopes(embedded: str, client: TestClient) -> None:
    alert_id = _alert()
    # A bare key ingests only; a wrong key is 401 whatever it asks for.
    assert client.get("/v1/segments", headers=auth("ingest")).status_code == 403
    assert client.get("/", headers=auth("ingest"), follow_redirects=False).status_code == 403
    wrong = {"Authorization": "Bearer not-a-key"}
    assert client.get("/v1/segments", headers=wrong).status_code == 401
    # read: the read API, the dashboard, metrics; not ingest, not ack.
    assert client.get("/v1/segments", headers=auth("read")).status_code == 200
    assert client.get(f"/v1/alerts/{alert_id}", headers=auth("read")).status_code == 200
    assert client.get("/", headers=auth("read")).status_code == 200
    assert client.get("/metrics", headers=auth("read")).status_code == 200
    assert client.get("/docs", headers=auth("read")).status_code == 200
    assert client.post("/v1/events", json=[], headers=auth("read")).status_code == 403
    denied = client.post(f"/v1/alerts/{alert_id}/ack", headers=auth("read"))
    assert denied.status_code == 403 and "admin" in denied.json()["error"]
    # admin implies read, and may act.
    assert client.get("/v1/alerts", headers=auth("admin")).status_code == 200
    acked = client.post(f"/v1/alerts/{alert_id}/ack", headers=auth("admin"))
    assert acked.status_code == 200 and acked.json()["status"] == "acknowledged"
    # No key is ever echoed.
    assert ADMIN_KEY not in acked.text and READ_KEY not in denied.text


def test_scope_prefix_only_when_it_names_a_scope(
    embedded: str, configure: Callable[..., None], client: TestClient
) -> None:
    configure(api_keys="team:abc,read:r1,admin:a1")
    # "team:abc" is a bare (ingest) key that contains a colon.
    assert (
        client.post("/v1/events", json=[], headers={"Authorization": "Bearer team:abc"}).status_code
        == 200
    )
    assert client.get("/v1/segments", headers={"Authorization": "Bearer r1"}).status_code == 200
    assert (
        client.get("/v1/segments", headers={"Authorization": "Bearer read:r1"}).status_code == 401
    )
    assert client.get("/v1/segments", headers={"Authorization": "Bearer a1"}).status_code == 200


def test_metrics_can_be_opened(
    embedded: str, configure: Callable[..., None], client: TestClient
) -> None:
    assert client.get("/metrics").status_code == 401
    configure(metrics_public="true")
    response = client.get("/metrics")
    assert response.status_code == 200 and "shadowgap_" in response.text
    assert client.get("/v1/segments").status_code == 401  # only /metrics opens


def test_cross_site_ack_and_resolve_are_refused(embedded: str, client: TestClient) -> None:
    alert_id = _alert()
    url = f"/v1/alerts/{alert_id}/resolve"
    # The attack: a cross-site form post (text/plain) with the browser's Origin.
    evil = {"Origin": "http://evil.example", "Content-Type": "text/plain"}
    assert client.post(url, content="x", headers={**auth("admin"), **evil}).status_code == 403
    fetch_meta = {"Sec-Fetch-Site": "cross-site"}
    assert client.post(url, headers={**auth("admin"), **fetch_meta}).status_code == 403
    assert client.post(url, headers={**auth("admin"), "Origin": "null"}).status_code == 403
    # GET never changes anything.
    assert client.get(url, headers=auth("admin")).status_code == 405
    with get_sessionmaker()() as session:
        assert session.get(models.Alert, alert_id).status == "open"
        assert session.scalars(select(models.Delivery)).all() == []
    same = {"Origin": "http://testserver", "Sec-Fetch-Site": "same-origin"}
    done = client.post(url, headers={**auth("admin"), **same})
    assert done.status_code == 200 and done.json()["status"] == "resolved"


def _sign_in(client: TestClient, key: str, name: str = "") -> None:
    response = client.post(
        "/login",
        data={"key": key, "name": name, "next": "/alerts"},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/alerts"
    cookie = response.headers["set-cookie"]
    for attribute in ("HttpOnly", "Secure", "SameSite=lax", "Path=/"):
        assert attribute.lower() in cookie.lower(), cookie
    assert key not in cookie


@pytest.fixture
def browser_client(embedded: str) -> TestClient:
    # https: the session cookie is Secure, so the client only sends it back over https.
    with TestClient(create_app(), base_url="https://testserver") as test_client:
        yield test_client


def test_sign_in_csrf_and_audit(browser_client: TestClient) -> None:
    client = browser_client
    alert_id = _alert()
    login = client.get("/login?next=/alerts")
    assert login.status_code == 200 and 'name="key"' in login.text
    bad = client.post("/login", data={"key": "nope", "next": "/"}, follow_redirects=False)
    assert bad.status_code == 401 and "not a read or admin key" in bad.text
    # An ingest key cannot sign in to the dashboard.
    ingest = client.post("/login", data={"key": auth()["Authorization"][7:], "next": "/"})
    assert ingest.status_code == 401

    _sign_in(client, ADMIN_KEY, name="Ada Lovelace")
    page = client.get("/alerts")
    assert page.status_code == 200 and "Ada Lovelace" in page.text
    token = re.search(r'<meta name="csrf-token" content="([^"]+)">', page.text).group(1)
    assert token and f'data-url="/v1/alerts/{alert_id}/ack"' in page.text

    url = f"/v1/alerts/{alert_id}/ack"
    same = {"Origin": "https://testserver", "Sec-Fetch-Site": "same-origin"}
    # The cookie alone is not enough: without (or with a wrong) token the ack is refused.
    assert client.post(url, headers=same).status_code == 403
    assert client.post(url, headers={**same, "X-CSRF-Token": token[:-2] + "xx"}).status_code == 403
    ok = client.post(url, headers={**same, "X-CSRF-Token": token})
    assert ok.status_code == 200 and ok.json()["status"] == "acknowledged"

    detail = client.get(f"/v1/alerts/{alert_id}").json()
    assert [(e["action"], e["via"]) for e in detail["audit"]] == [("acknowledge", "session")]
    assert detail["audit"][0]["actor"].startswith("Ada Lovelace (key ")
    page = client.get("/alerts").text
    assert "acknowledge by Ada Lovelace" in page

    # A forged or tampered cookie is no sign-in.
    cookie = client.cookies.get("shadowgap_session")
    tampered = cookie[:-3] + ("abc" if not cookie.endswith("abc") else "xyz")
    client.cookies.clear()
    client.cookies.set("shadowgap_session", tampered)
    assert client.get("/alerts", follow_redirects=False).status_code == 303


def test_read_session_sees_no_buttons_and_cannot_act(browser_client: TestClient) -> None:
    client = browser_client
    alert_id = _alert()
    _sign_in(client, READ_KEY)
    page = client.get("/alerts").text
    assert "data-url" not in page and "admin only" in page
    token = re.search(r'<meta name="csrf-token" content="([^"]+)">', page).group(1)
    response = client.post(f"/v1/alerts/{alert_id}/resolve", headers={"X-CSRF-Token": token})
    assert response.status_code == 403


def test_rotating_keys_ends_sessions(
    browser_client: TestClient, configure: Callable[..., None]
) -> None:
    client = browser_client
    _sign_in(client, ADMIN_KEY)
    assert client.get("/alerts").status_code == 200
    configure(api_keys=f"admin:another-admin-key-0123,read:{READ_KEY}")
    assert client.get("/alerts", follow_redirects=False).status_code == 303


def test_sign_out_needs_the_token(browser_client: TestClient) -> None:
    client = browser_client
    _sign_in(client, ADMIN_KEY)
    page = client.get("/alerts").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    refused = client.post("/logout", data={"csrf_token": "wrong"}, follow_redirects=False)
    assert refused.status_code == 403
    out = client.post("/logout", data={"csrf_token": token}, follow_redirects=False)
    assert out.status_code == 303
    assert client.get("/alerts", follow_redirects=False).status_code == 303


def test_next_is_never_an_open_redirect(browser_client: TestClient) -> None:
    for target in ("//evil.example/x", "https://evil.example", "/\\evil.example"):
        response = browser_client.post(
            "/login", data={"key": ADMIN_KEY, "next": target}, follow_redirects=False
        )
        assert response.headers["location"] == "/", target


def test_sso_header_from_trusted_proxy(embedded: str, configure: Callable[..., None]) -> None:
    configure(
        sso_user_header="X-Forwarded-Email",
        sso_groups_header="X-Forwarded-Groups",
        sso_admins="group:oncall,root@example.com",
        sso_trusted_proxies="10.0.0.0/8",
    )
    alert_id = _alert()
    proxied = TestClient(create_app(), client=("10.1.2.3", 40000))
    elsewhere = TestClient(create_app(), client=("192.0.2.9", 40000))
    reader = {"X-Forwarded-Email": "bob@example.com"}
    oncall = {"X-Forwarded-Email": "ann@example.com", "X-Forwarded-Groups": "eng, oncall"}
    # The header is ignored unless the request comes through the proxy.
    assert elsewhere.get("/v1/alerts", headers=reader).status_code == 401
    assert proxied.get("/v1/alerts", headers=reader).status_code == 200
    page = proxied.get("/alerts", headers=reader).text
    assert "bob@example.com" in page and "data-url" not in page
    assert proxied.post(f"/v1/alerts/{alert_id}/ack", headers=reader).status_code == 403
    page = proxied.get("/alerts", headers=oncall).text
    token = re.search(r'<meta name="csrf-token" content="([^"]+)">', page).group(1)
    # The proxy's header is attached by the browser's session with the proxy: CSRF applies.
    assert proxied.post(f"/v1/alerts/{alert_id}/ack", headers=oncall).status_code == 403
    acked = proxied.post(f"/v1/alerts/{alert_id}/ack", headers={**oncall, "X-CSRF-Token": token})
    assert acked.status_code == 200
    audit = proxied.get(f"/v1/alerts/{alert_id}", headers=oncall).json()["audit"]
    assert [(e["actor"], e["via"], e["action"]) for e in audit] == [
        ("ann@example.com", "sso", "acknowledge")
    ]
    configure(sso_readers="group:eng")
    assert proxied.get("/v1/alerts", headers=reader).status_code == 403
