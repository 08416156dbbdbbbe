"""The segment page and the alerts page show tool-call pairs side by side: the function and
arguments of each side, the difference the judge named and which judge decided; JSON answers
with the fields that differ. Values are escaped and bidi-isolated."""

from __future__ import annotations

import html as html_lib
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from shadowgap.bidi import FSI, PDI
from shadowgap.db.engine import make_engine
from shadowgap.db.models import Base
from tests.support.alert_rows import make_settings
from tests.support.settings import auth
from tests.support.synthetic import dashboard_app
from tests.support.tool_pairs import AGENT_SEGMENT, HOSTILE_CITY, seed_agent_pairs, utc_now


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    path: Path = tmp_path_factory.mktemp("pairs")
    engine = make_engine(f"sqlite:///{path}/shadowgap.db")
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        seed_agent_pairs(session, make_settings(path), utc_now())
        session.commit()
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def client(engine: Engine) -> TestClient:
    return TestClient(dashboard_app(engine)[0], headers=auth("admin"))


def _articles(page: str) -> list[str]:
    return re.findall(r'<article class="example">.*?</article>', page, re.S)


def _pairs(article: str) -> list[tuple[str, str]]:
    """(cheap cell, flagship cell) of each row, as text."""
    rows = re.findall(
        r'<tr class="call-pair[^"]*"><td class="left cheap">(.*?)</td>'
        r'<td class="left flagship">(.*?)</td></tr>',
        article,
        re.S,
    )
    return [(_text(cheap), _text(flagship)) for cheap, flagship in rows]


def _text(fragment: str) -> str:
    return html_lib.unescape(re.sub(r"<[^>]+>", " ", fragment)).strip()


def test_segment_page_shows_calls_side_by_side(client: TestClient) -> None:
    response = client.get("/segments/" + quote(AGENT_SEGMENT, safe=""))
    assert response.status_code == 200
    articles = _articles(response.text)
    assert len(articles) == 4
    by_event = {
        name: next(a for a in articles if marker in a)
        for name, marker in (
            ("missing", "Weather in Rome, in celsius?"),
            ("wrong_function", "Mail me the weather in Oslo."),
            ("json", "Forecast for Rome as JSON."),
            ("hostile", "Weather in Rome?"),
        )
    }

    missing = by_event["missing"]
    assert "Decided by tool-calls" in missing
    assert 'class="pill error difference">missing_argument<' in missing
    ((cheap, flagship),) = _pairs(missing)
    assert cheap.split(None, 1) == ["get_weather", '{\n  "unit": "celsius"\n}']
    assert flagship.split(None, 1) == [
        "get_weather",
        '{\n  "city": "Rome",\n  "unit": "celsius"\n}',
    ]
    assert '<li data-kind="missing_argument"><b>missing_argument</b>' in missing
    assert "(cheap at fault)" in missing

    wrong = by_event["wrong_function"]
    assert 'class="call-pair differs"' in wrong
    ((cheap, flagship),) = _pairs(wrong)
    assert cheap.startswith("send_email") and flagship.startswith("get_weather")
    assert 'difference">wrong_function<' in wrong
    assert "Sending it now." in wrong  # the prose beside the call

    structured = by_event["json"]
    assert "Decided by structured-output" in structured
    assert 'difference">field_differs<' in structured
    assert '<code class="field">$.temp_c</code>' in structured
    assert _pairs(structured) == []

    hostile = by_event["hostile"]
    # Escaped, never markup; its right-to-left override closed inside an isolate.
    assert "<b>Paris</b>" not in hostile and "&lt;b&gt;Paris&lt;/b&gt;" in hostile
    ((cheap, _),) = _pairs(hostile)
    assert HOSTILE_CITY in cheap
    assert cheap.index(FSI) < cheap.index("\u202e") < cheap.index(PDI)


def test_alerts_page_shows_the_evidence_pairs(client: TestClient) -> None:
    page = client.get("/alerts").text
    evidence = re.search(r'<tr class="evidence-row".*?</details>', page, re.S)
    assert evidence is not None
    block = evidence.group(0)
    assert "3 example requests" in block
    articles = _articles(block)
    assert [a.count('class="call-pair') for a in articles] == [1, 1, 0]
    assert 'difference">missing_argument<' in articles[0]
    assert 'difference">wrong_value<' in articles[1]
    assert '<code class="field">$.temp_c</code>' in articles[2]
    assert "&lt;b&gt;Paris&lt;/b&gt;" in articles[1] and "<b>Paris</b>" not in block
