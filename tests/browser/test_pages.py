"""The dashboard in headless Chromium: sign-in, pages render under the production security
headers (no CSP violation, no console error), charts draw real data, buttons work with their
CSRF token, the weekly report draws inside its sandbox. Full-page screenshots go to
test-artifacts/screenshots/."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
from fastapi import FastAPI
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from shadowgap.api.auth.access import AdminAccess
from shadowgap.config import Settings
from shadowgap.db import models
from tests.support.cdp import CHROMIUM, Browser
from tests.support.settings import ADMIN_KEY, READ_KEY, ROOT, require
from tests.support.synthetic import (
    DASHBOARD_SHIFTED,
    DASHBOARD_SLASHED,
    DASHBOARD_SMALL,
    dashboard_app,
    dashboard_engine,
)
from tests.support.thread_server import served

pytestmark = pytest.mark.browser


@pytest.fixture(autouse=True, scope="module")
def _chromium() -> None:
    require(CHROMIUM.exists(), f"{CHROMIUM} is missing (apt-get install -y chromium)")


SHOTS = ROOT / "test-artifacts" / "screenshots"
NOW = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)


def _app(engine: Engine) -> FastAPI:
    app, factory = dashboard_app(engine)

    # Stand-ins for the alerts JSON API (another module, with the same admin + CSRF guard):
    # the buttons' contract is a POST that changes the alert, then a reload.
    @app.post("/v1/alerts/{alert_id}/{action}")
    def change(alert_id: int, action: str, _who: AdminAccess) -> dict[str, str]:
        with factory() as s:
            alert = s.get(models.Alert, alert_id)
            assert alert is not None
            alert.status = {"ack": "acknowledged", "resolve": "resolved"}[action]
            s.commit()
            return {"status": alert.status}

    return app


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    with dashboard_engine(tmp_path_factory.mktemp("browser") / "shadowgap.db", NOW) as engine:
        yield engine


@pytest.fixture(scope="module")
def base_url(engine: Engine) -> Iterator[str]:
    with served(_app(engine)) as url:
        yield url


def sign_in(chrome: Browser, base_url: str, key: str, name: str = "") -> None:
    """Through the form, as a person would: the page redirects to /login first."""
    chrome.open(base_url + "/")
    assert chrome.evaluate("location.pathname") == "/login"
    chrome.evaluate(
        f"document.querySelector('input[name=name]').value = {name!r};"
        f"document.querySelector('input[name=key]').value = {key!r};"
        "document.getElementById('login-form').submit()"
    )
    chrome.wait_for("location.pathname === '/' && document.readyState === 'complete'")
    chrome.wait_for("document.documentElement.dataset.dashboardReady === '1'")


@pytest.fixture
def anonymous(tmp_path: Path) -> Iterator[Browser]:
    chrome = Browser(tmp_path / "chromium-profile")
    yield chrome
    chrome.close()


@pytest.fixture
def browser(anonymous: Browser, base_url: str) -> Browser:
    """Signed in with an admin key."""
    sign_in(anonymous, base_url, ADMIN_KEY, name="Test Admin")
    return anonymous


def test_overview_page(browser: Browser, base_url: str) -> None:
    browser.open(base_url + "/")
    assert browser.evaluate("document.documentElement.dataset.dashboardReady") == "1"
    keys = browser.evaluate(
        "Array.from(document.querySelectorAll('#segments td.key a')).map(a => a.textContent)"
    )
    assert DASHBOARD_SHIFTED in keys and len(keys) == 4
    browser.screenshot(SHOTS / "overview.png")
    # Search narrows the list through the form.
    browser.evaluate(
        "document.querySelector('.search input[name=q]').value = 'acme';"
        "document.querySelector('.search').submit()"
    )
    browser.wait_for("document.querySelectorAll('#segments td.key a').length === 1")
    assert browser.errors() == []


def test_segment_page_charts(browser: Browser, base_url: str) -> None:
    browser.open(f"{base_url}/segments/{quote(DASHBOARD_SHIFTED, safe='')}?days=30")
    charts = browser.evaluate(
        """Array.from(document.querySelectorAll('svg.chart')).map(svg => {
             const line = svg.querySelector('path.line');
             const box = svg.getBoundingClientRect();
             return {
               signal: svg.dataset.signal,
               width: box.width,
               length: line ? line.getTotalLength() : 0,
               points: svg.querySelectorAll('circle.pt').length,
               values: Array.from(svg.querySelectorAll('circle.pt')).map(c => +c.dataset.v),
               drift: svg.querySelectorAll('g.drift').length,
             };
           })"""
    )
    # The threshold what-if chart (attribution) is checked on its own; these are the signals.
    charts = [c for c in charts if c["signal"] != "thresholds"]
    by_signal = {c["signal"]: c for c in charts}
    assert set(by_signal) == {
        "routing_share",
        "quality_gap",
        "latency",
        "error_rate",
        "escalation_rate",
        "cost_per_request",
    }
    for chart in charts:
        assert chart["width"] > 300, chart["signal"]
        assert chart["length"] > 100, chart["signal"]  # a drawn line, not a dot
        assert chart["points"] >= 5, chart["signal"]
    # Real data: routing share near the fixture's 70%, latency in the hundreds of ms.
    shares = by_signal["routing_share"]["values"]
    assert 0.55 < sum(shares) / len(shares) < 0.85
    assert 300 < min(by_signal["latency"]["values"]) < max(by_signal["latency"]["values"]) < 3000
    assert by_signal["quality_gap"]["drift"] >= 1 and by_signal["latency"]["drift"] >= 1
    # Hovering a chart shows the nearest point's value.
    readout = browser.evaluate(
        """(() => {
             const svg = document.querySelector('svg.chart[data-signal=latency]');
             const box = svg.getBoundingClientRect();
             svg.dispatchEvent(new MouseEvent('mousemove', {
               clientX: box.left + box.width * 0.7, clientY: box.top + box.height / 2,
               bubbles: true}));
             return svg.parentElement.querySelector('.readout').textContent;
           })()"""
    )
    assert "ms (n=" in readout
    assert browser.evaluate("document.querySelectorAll('article.example').length") >= 3
    browser.screenshot(SHOTS / "segment.png")
    assert browser.errors() == []


def test_segment_with_slash_in_key(browser: Browser, base_url: str) -> None:
    browser.open(base_url + "/")
    browser.evaluate(
        f"Array.from(document.querySelectorAll('#segments td.key a'))"
        f".find(a => a.textContent === {DASHBOARD_SLASHED!r}).click()"
    )
    browser.wait_for(
        "document.querySelectorAll('svg.chart:not([data-signal=thresholds])').length === 6"
    )
    assert DASHBOARD_SLASHED in browser.evaluate("document.querySelector('h1').textContent")
    assert browser.errors() == []


def test_alert_buttons_call_the_api_and_reload(
    browser: Browser, base_url: str, engine: Engine
) -> None:
    browser.open(base_url + "/alerts")
    browser.screenshot(SHOTS / "alerts.png")
    row = browser.evaluate(
        "document.querySelector('button[data-action=ack]').closest('tr').dataset.alert"
    )
    browser.evaluate(
        f"document.querySelector('tr[data-alert=\"{row}\"] button[data-action=ack]').click()"
    )
    browser.wait_for(
        f"document.readyState === 'complete' && "
        f"!document.querySelector('tr[data-alert=\"{row}\"] button[data-action=ack]')"
    )
    with Session(engine) as session:
        assert session.get(models.Alert, int(row)).status == "acknowledged"
    # Resolve the small segment's acknowledged alert: it leaves the active list.
    small = browser.evaluate(
        f"Array.from(document.querySelectorAll('#alerts tr[data-alert]'))"
        f".find(tr => tr.textContent.includes({DASHBOARD_SMALL!r})).dataset.alert"
    )
    browser.evaluate(
        f"document.querySelector('tr[data-alert=\"{small}\"] button[data-action=resolve]').click()"
    )
    browser.wait_for(f"!document.querySelector('tr[data-alert=\"{small}\"]')")
    with Session(engine) as session:
        assert session.get(models.Alert, int(small)).status == "resolved"
    assert browser.errors() == []


def test_reports_list_and_evidently_report(browser: Browser, base_url: str, engine: Engine) -> None:
    from shadowgap.reporting import build_weekly_report

    with Session(engine) as session:
        report = build_weekly_report(session, NOW - timedelta(days=7), NOW, Settings(), workers=1)
        session.commit()
        report_id = report.id
        first = report.summary["segments"][0]["segment_id"]
    browser.open(base_url + "/reports")
    assert browser.evaluate(f"!!document.querySelector('a[href=\"/reports/{report_id}\"]')")
    browser.screenshot(SHOTS / "reports.png")
    browser.open(f"{base_url}/reports/{report_id}", settle=1.0)
    content = f"/reports/{report_id}/content"
    assert browser.evaluate("document.getElementById('report-frame').sandbox.value") == (
        "allow-scripts"
    )
    # Evidently's bundle draws the opened sections' dashboards (plotly charts inside), in a
    # sandbox whose origin is opaque: it can read neither the session cookie nor the API.
    browser.wait_in_frame(
        content,
        f"document.querySelector('#root_seg_{first}') && "
        f"document.querySelector('#root_seg_{first}').children.length > 0",
    )
    browser.wait_in_frame(
        content, f"document.querySelectorAll('#root_seg_{first} .js-plotly-plot').length > 0"
    )
    summary = browser.evaluate_in_frame(content, "document.querySelector('#summary').textContent")
    assert DASHBOARD_SHIFTED in summary
    assert browser.evaluate_in_frame(content, "self.origin") == "null"
    assert browser.evaluate_in_frame(
        content, "(() => { try { return document.cookie; } catch (e) { return 'blocked'; } })()"
    ) in ("", "blocked")
    # The parent cannot reach into the frame either.
    assert (
        browser.evaluate(
            "(() => { try { return !!document.getElementById('report-frame').contentDocument; }"
            " catch (e) { return false; } })()"
        )
        is False
    )
    browser.screenshot(SHOTS / "weekly-report.png")
    assert browser.errors() == []
    with Session(engine) as session:
        stored = session.scalar(select(models.Report.html).where(models.Report.id == report_id))
    assert stored is not None and "window.drawDashboard" in stored


def test_security_headers_and_every_page_renders_under_them(
    browser: Browser, base_url: str
) -> None:
    pages = ["/", f"/segments/{quote(DASHBOARD_SHIFTED, safe='')}", "/alerts", "/reports"]
    for path in pages:
        browser.open(base_url + path)
        headers = browser.document_headers(base_url + path)
        csp = headers["content-security-policy"]
        assert "default-src 'none'" in csp and "script-src 'self';" in csp, path
        assert "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp, path
        assert headers["x-frame-options"] == "DENY", path
        assert headers["x-content-type-options"] == "nosniff", path
        assert headers["referrer-policy"] == "same-origin", path
        # The page's script ran under the policy (it marks the document when done).
        assert browser.evaluate("document.documentElement.dataset.dashboardReady") == "1", path
    # An inline script injected into a page is refused by the policy: the CSP is enforced.
    browser.evaluate(
        "const s = document.createElement('script'); s.textContent = 'window.__ran = 1';"
        "document.body.appendChild(s)"
    )
    assert browser.evaluate("window.__ran === undefined") is True
    violations = [e for e in browser.errors() if "Content Security Policy" in e]
    assert len(violations) == 1 and "inline script" in violations[0]
    browser.events.clear()
    browser.open(base_url + "/reports")
    assert browser.errors() == []


def test_framing_the_dashboard_is_refused(browser: Browser, base_url: str) -> None:
    # A page elsewhere framing the alerts page (clickjacking the buttons) gets an error page
    # in the frame, not the dashboard: frame-ancestors 'none' and X-Frame-Options: DENY.
    browser.open(f"data:text/html,<iframe id=f src='{base_url}/alerts'></iframe>", settle=1.0)
    seen = []
    for session_id in list(browser.frame_sessions):
        try:
            result = browser.call(
                "Runtime.evaluate",
                {
                    "expression": "[location.href, !!document.getElementById('alerts')]",
                    "returnByValue": True,
                },
                session=session_id,
            )
        except RuntimeError:
            continue
        seen.append(result["result"]["value"])
    assert seen, "the frame never attached"
    assert all(not has_table for _, has_table in seen), seen
    assert any(href.startswith("chrome-error:") for href, _ in seen), seen


def test_read_only_sign_in_has_no_buttons(anonymous: Browser, base_url: str) -> None:
    sign_in(anonymous, base_url, READ_KEY)
    anonymous.open(base_url + "/alerts")
    assert anonymous.evaluate("document.querySelectorAll('button[data-action]').length") == 0
    assert "admin only" in anonymous.evaluate("document.getElementById('alerts').textContent")
    # Forcing the call from the page (with its token) still needs the admin scope.
    status = anonymous.evaluate(
        "fetch('/v1/alerts/1/ack', {method: 'POST', headers: {'X-CSRF-Token': "
        "document.querySelector('meta[name=csrf-token]').content}}).then(r => r.status)"
    )
    assert status == 403
    assert anonymous.errors() == [] or all("403" in e for e in anonymous.errors())


def test_wrong_key_stays_on_the_sign_in_page(anonymous: Browser, base_url: str) -> None:
    anonymous.open(base_url + "/alerts")
    assert anonymous.evaluate("location.pathname + location.search") == "/login?next=/alerts"
    anonymous.evaluate(
        "document.querySelector('input[name=key]').value = 'not-a-key';"
        "document.getElementById('login-form').submit()"
    )
    anonymous.wait_for("!!document.getElementById('login-error')")
    assert "not a read or admin key" in anonymous.evaluate(
        "document.getElementById('login-error').textContent"
    )
