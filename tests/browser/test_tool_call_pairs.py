"""The segment page in headless Chromium lays an agent's tool calls out side by side: the cheap
call's cell left of the flagship call's on the same row, each with its function and indented
arguments, the judge's named difference beside it; no console error or CSP violation. The
screenshot goes to test-artifacts/screenshots/segment-tool-calls.png."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from shadowgap.db.engine import make_engine
from shadowgap.db.models import Base
from tests.support.alert_rows import make_settings
from tests.support.cdp import CHROMIUM, Browser
from tests.support.settings import ADMIN_KEY, ROOT, require
from tests.support.synthetic import dashboard_app
from tests.support.thread_server import served
from tests.support.tool_pairs import AGENT_SEGMENT, seed_agent_pairs, utc_now

pytestmark = pytest.mark.browser
SHOTS = ROOT / "test-artifacts" / "screenshots"


@pytest.fixture(autouse=True, scope="module")
def _chromium() -> None:
    require(CHROMIUM.exists(), f"{CHROMIUM} is missing (apt-get install -y chromium)")


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    path: Path = tmp_path_factory.mktemp("browser-pairs")
    engine: Engine = make_engine(f"sqlite:///{path}/shadowgap.db")
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        seed_agent_pairs(session, make_settings(path), utc_now())
        session.commit()
    with served(dashboard_app(engine)[0]) as url:
        yield url
    engine.dispose()


@pytest.fixture
def browser(tmp_path: Path, base_url: str) -> Iterator[Browser]:
    chrome = Browser(tmp_path / "chromium-profile")
    chrome.open(base_url + "/")  # redirected to the sign-in form
    chrome.evaluate(
        f"document.querySelector('input[name=key]').value = {ADMIN_KEY!r};"
        "document.getElementById('login-form').submit()"
    )
    chrome.wait_for("location.pathname === '/' && document.readyState === 'complete'")
    yield chrome
    chrome.close()


def test_segment_page_lays_tool_calls_side_by_side(browser: Browser, base_url: str) -> None:
    browser.open(f"{base_url}/segments/{quote(AGENT_SEGMENT, safe='')}")
    rows = browser.evaluate(
        """Array.from(document.querySelectorAll('tr.call-pair')).map(tr => {
             const [cheap, flagship] = tr.querySelectorAll('td');
             const a = cheap.getBoundingClientRect(), b = flagship.getBoundingClientRect();
             const section = tr.closest('section.comparison');
             return {
               cheap: cheap.querySelector('code.fn').textContent,
               flagship: flagship.querySelector('code.fn').textContent,
               cheapArgs: cheap.querySelector('pre.args').textContent,
               leftOf: a.right <= b.left + 1, sameRow: Math.abs(a.top - b.top) < 1,
               widths: [a.width, b.width],
               differs: tr.classList.contains('differs'),
               difference: section.querySelector('.difference').textContent,
               named: Array.from(section.querySelectorAll('ul.differences li'))
                 .map(li => li.dataset.kind),
             };
           })"""
    )
    assert len(rows) == 3  # three tool-call pairs; the JSON pair has no calls
    for row in rows:
        assert row["leftOf"] and row["sameRow"], row
        assert min(row["widths"]) > 200, row
    by_difference = {row["difference"]: row for row in rows}
    assert set(by_difference) == {"wrong_function", "wrong_value", "missing_argument"}
    missing = by_difference["missing_argument"]
    assert (missing["cheap"], missing["flagship"]) == ("get_weather", "get_weather")
    assert missing["cheapArgs"] == '{\n  "unit": "celsius"\n}'
    assert "missing_argument" in missing["named"]
    wrong = by_difference["wrong_function"]
    assert (wrong["cheap"], wrong["flagship"], wrong["differs"]) == (
        "send_email",
        "get_weather",
        True,
    )
    fields = browser.evaluate(
        "Array.from(document.querySelectorAll('section[data-mode=structured-output] code.field'))"
        ".map(c => c.textContent)"
    )
    assert fields == ["$.temp_c"]
    browser.screenshot(SHOTS / "segment-tool-calls.png")
    assert browser.errors() == []
