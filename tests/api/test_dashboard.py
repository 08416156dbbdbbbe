"""Dashboard pages on a SQLite file with generated traffic, through FastAPI's TestClient."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from shadowgap.db import models
from shadowgap.db.engine import make_engine
from shadowgap.db.models import Base
from tests.support.settings import ROOT, auth
from tests.support.synthetic import (
    DASHBOARD_SHIFTED,
    DASHBOARD_SLASHED,
    DASHBOARD_SMALL,
    DASHBOARD_STABLE,
    WEEK,
    Profile,
    dashboard_app,
    dashboard_dataset,
    dashboard_engine,
    many_segments,
    populate,
)

NOW = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)


def _client(engine: Engine) -> TestClient:
    # An admin key: the pages need read, the alert buttons show for admins only.
    return TestClient(dashboard_app(engine)[0], headers=auth("admin"))


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    with dashboard_engine(tmp_path_factory.mktemp("dashboard") / "shadowgap.db", NOW) as engine:
        yield engine


@pytest.fixture(scope="module")
def client(engine: Engine) -> TestClient:
    return _client(engine)


def _segment_keys(html: str) -> list[str]:
    return re.findall(r'<td class="left key"><a href="/segments/[^"]*">([^<]*)</a>', html)


def _points(html: str, signal: str) -> list[float]:
    svg = re.search(rf'<svg class="chart"[^>]*data-signal="{signal}".*?</svg>', html, re.S)
    assert svg is not None, f"no {signal} chart"
    return [float(v) for v in re.findall(r'data-v="([^"]+)"', svg.group(0))]


def test_overview_lists_segments_with_their_columns(client: TestClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    html = response.text
    keys = _segment_keys(html)
    assert sorted(keys) == sorted(
        [DASHBOARD_SHIFTED, DASHBOARD_STABLE, DASHBOARD_SMALL, DASHBOARD_SLASHED]
    )
    assert keys[0] in (DASHBOARD_SHIFTED, DASHBOARD_STABLE)  # default sort: volume, descending
    assert "p95 latency" in html and "excess gap" in html
    assert 'class="pill error"' in html  # acme's open alerts
    assert f'href="/segments/{quote(DASHBOARD_SLASHED, safe="")}"' in html


@pytest.mark.parametrize(
    ("sort", "first"),
    [
        ("-excess_gap", DASHBOARD_SHIFTED),
        ("-p95", DASHBOARD_SHIFTED),
        ("-status", DASHBOARD_SHIFTED),
        ("key", DASHBOARD_SLASHED),
        ("-key", DASHBOARD_SMALL),
        ("volume", DASHBOARD_SMALL),
        ("cheap_share", DASHBOARD_SLASHED),
    ],
)
def test_overview_sorts_by_every_column(client: TestClient, sort: str, first: str) -> None:
    response = client.get("/", params={"sort": sort})
    assert response.status_code == 200
    assert _segment_keys(response.text)[0] == first


def test_overview_sort_links_flip_direction(client: TestClient) -> None:
    html = client.get("/", params={"sort": "-p95"}).text
    assert "sort=p95" in html  # the active column links to the other direction
    assert "sort=-excess_gap" in html


def test_overview_search_is_a_substring_match(client: TestClient) -> None:
    html = client.get("/", params={"q": "glob"}).text
    assert _segment_keys(html) == [DASHBOARD_STABLE]
    assert _segment_keys(client.get("/", params={"q": "ops/eu"}).text) == [DASHBOARD_SLASHED]
    empty = client.get("/", params={"q": "no-such-segment%_"}).text
    assert _segment_keys(empty) == [] and "No segments" in empty


def test_overview_paginates(client: TestClient) -> None:
    first = client.get("/", params={"per_page": 3, "sort": "key"}).text
    second = client.get("/", params={"per_page": 3, "sort": "key", "page": 2}).text
    assert len(_segment_keys(first)) == 3 and len(_segment_keys(second)) == 1
    assert not set(_segment_keys(first)) & set(_segment_keys(second))
    assert "page 1 of 2" in first and 'rel="next"' in first
    assert "page 2 of 2" in second and 'rel="prev"' in second
    # Past the last page shows the last page.
    assert _segment_keys(client.get("/", params={"per_page": 3, "page": 9}).text)


def test_overview_excess_gap_interval(client: TestClient) -> None:
    html = client.get("/", params={"sort": "-excess_gap", "q": "acme"}).text
    match = re.search(r"([\d.]+)%\s*<span class=\"ci\">\[(-?[\d.]+)%, (-?[\d.]+)%\]", html)
    assert match is not None
    value, low, high = (float(g) for g in match.groups())
    assert low < value < high
    assert value > 10  # acme's gap rose to 45% in week two; the window averages both weeks


def _excess_gap_cell(html: str) -> float | None:
    match = re.search(r"([\d.]+)%\s*<span class=\"ci\">\[(-?[\d.]+)%, (-?[\d.]+)%\]", html)
    return float(match.group(1)) if match else None


def test_overview_windows_judged_pairs_by_event_time(tmp_path: Path) -> None:
    """A backfill of traffic from three weeks ago, judged today, belongs to three weeks ago:
    while live traffic arrives (the event-time watermark is today), the overview's last 7 days
    show no excess gap for it, its last 30 days do (as the segment page and the weekly report
    count it)."""
    engine = make_engine(f"sqlite:///{tmp_path / 'backfill.db'}")
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        populate(
            session,
            {"tenant=backfill": [Profile(events=600, gap_rate=0.5, noise_rate=0.05)]},
            NOW - 3 * WEEK,
        )
        populate(session, {"tenant=live": [Profile(events=50)]}, NOW - WEEK, seed=1)
        session.execute(models.Verdict.__table__.update().values(created_at=NOW))
        session.commit()
    client = _client(engine)
    last_week = client.get("/", params={"q": "backfill", "days": 7}).text
    last_month = client.get("/", params={"q": "backfill", "days": 30}).text
    engine.dispose()
    assert "tenant=backfill" in last_week
    assert _excess_gap_cell(last_week) is None
    month = _excess_gap_cell(last_month)
    assert month is not None and month > 30


def test_segment_page_draws_every_signal(client: TestClient, engine: Engine) -> None:
    # A 30-day window covers the whole fixture, so the charts hold every event.
    response = client.get("/segments/" + quote(DASHBOARD_SHIFTED, safe=""), params={"days": 30})
    assert response.status_code == 200
    html = response.text
    for signal in (
        "routing_share",
        "quality_gap",
        "latency",
        "error_rate",
        "escalation_rate",
        "cost_per_request",
    ):
        assert len(_points(html, signal)) >= 5, signal
    assert html.count('<path class="line" d="M') == 6
    assert '<polygon class="band"' in html  # the quality gap's interval
    # Drift events are marked on the charts of their signals.
    assert re.search(r'data-signal="quality_gap".*?<g class="drift"', html, re.S)
    assert re.search(r'data-signal="latency".*?<g class="drift"', html, re.S)

    # The drawn points are the data: routing share per bucket, weighted by bucket size, is
    # the share of the whole window.
    shares = _points(html, "routing_share")
    counts = [int(n) for n in re.findall(r"n=(\d+)\)</title>", _chart(html, "routing_share"))]
    with Session(engine) as session:
        seg = session.scalar(
            select(models.Segment.id).where(models.Segment.key == DASHBOARD_SHIFTED)
        )
        total, cheap = session.execute(
            select(func.count(), func.sum(func.iif(models.TrafficEvent.is_cheap, 1, 0))).where(
                models.TrafficEvent.segment_id == seg
            )
        ).one()
    assert sum(counts) == total
    assert sum(s * n for s, n in zip(shares, counts, strict=True)) == pytest.approx(cheap, abs=0.5)
    # Latency p95 doubles in week two (3-hour buckets over two weeks).
    assert "3 h buckets" in html
    latency = _points(html, "latency")
    half = len(latency) // 2
    assert min(latency[half + 5 :]) > max(latency[: half - 5])


def _chart(html: str, signal: str) -> str:
    svg = re.search(rf'<svg class="chart"[^>]*data-signal="{signal}".*?</svg>', html, re.S)
    assert svg is not None
    return svg.group(0)


def test_segment_page_shows_example_pairs(client: TestClient) -> None:
    html = client.get("/segments/" + quote(DASHBOARD_SHIFTED, safe="")).text
    assert "Example requests" in html
    assert "what is" in html  # the prompt
    assert "cheap answer" in html and "flagship answer" in html
    assert "flagship answer is correct, cheap answer is wrong" in html  # the rationale
    assert "winner: flagship" in html


def test_segment_key_with_slash_and_window(client: TestClient) -> None:
    response = client.get("/segments/" + quote(DASHBOARD_SLASHED, safe=""), params={"days": 3})
    assert response.status_code == 200
    assert DASHBOARD_SLASHED in response.text
    assert "1 h buckets" in response.text
    # Alert links keep '=' readable (shadowgap.alerts.evidence.dashboard_link): the route takes
    # both.
    assert client.get(f"/segments/{DASHBOARD_SHIFTED}").status_code == 200


def test_unknown_segment_and_report_are_404(client: TestClient) -> None:
    assert client.get("/segments/tenant%3Dnobody").status_code == 404
    assert client.get("/reports/987654").status_code == 404


def test_alerts_page_has_working_buttons(client: TestClient) -> None:
    html = client.get("/alerts").text
    assert DASHBOARD_SHIFTED in html and DASHBOARD_SMALL in html
    assert DASHBOARD_STABLE not in html  # resolved alerts are not active
    assert re.search(r'data-url="/v1/alerts/\d+/ack"', html)
    assert "0.1 (500)" in html and "0.4 (120)" in html  # the evidence's before / after
    assert re.search(r'data-url="/v1/alerts/\d+/resolve"', html)
    # The acknowledged alert can be resolved but not acknowledged again.
    row = re.search(rf'<tr data-alert="\d+">(?:(?!</tr>).)*{DASHBOARD_SMALL}.*?</tr>', html, re.S)
    assert row is not None and "/resolve" in row.group(0) and "/ack" not in row.group(0)
    resolved = client.get("/alerts", params={"status": "resolved"}).text
    assert DASHBOARD_STABLE in resolved and "data-url" not in resolved


def test_reports_list_and_stored_html(client: TestClient) -> None:
    html = client.get("/reports").text
    match = re.search(r'href="/reports/(\d+)"', html)
    assert match is not None
    page = client.get(f"/reports/{match.group(1)}")
    assert page.status_code == 200
    # The stored HTML is framed in a sandbox, served under its own policy.
    assert f'sandbox="allow-scripts" src="/reports/{match.group(1)}/content"' in page.text
    assert "Stored weekly report" not in page.text
    report = client.get(f"/reports/{match.group(1)}/content")
    assert report.status_code == 200
    assert "Stored weekly report" in report.text
    assert report.headers["content-type"].startswith("text/html")
    assert report.headers["content-security-policy"].startswith("sandbox allow-scripts;")
    assert client.get("/reports/987654/content").status_code == 404


def test_static_files(client: TestClient) -> None:
    assert client.get("/static/dashboard.css").status_code == 200
    assert "fetch(" in client.get("/static/dashboard.js").text
    assert client.get("/static/..%2Fdashboard.py").status_code == 404
    assert client.get("/static/nope.js").status_code == 404


def test_dashboard_imports_no_heavy_modules() -> None:
    code = (
        "import sys, shadowgap.api.dashboard.pages; "
        "print(sorted(m for m in ('evidently', 'celery', 'llama_cpp') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


@pytest.fixture(scope="module")
def big_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    path = tmp_path_factory.mktemp("dashboard-big") / "shadowgap.db"
    engine = make_engine(f"sqlite:///{path}")
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        many_segments(session, 10_000, NOW)
        dashboard_dataset(session, NOW)
        session.commit()
    yield _client(engine)
    engine.dispose()


@pytest.mark.parametrize("sort", ["-volume", "key", "-cheap_share", "-excess_gap", "-p95"])
def test_ten_thousand_segments(big_client: TestClient, sort: str) -> None:
    started = time.perf_counter()
    response = big_client.get("/", params={"sort": sort, "page": 3})
    elapsed = time.perf_counter() - started
    assert response.status_code == 200
    assert len(_segment_keys(response.text)) == 50
    assert "page 3 of 201" in response.text
    # Generous for a shared CI box; a page is ~0.1 s when the machine is idle.
    assert elapsed < 5.0, f"{sort}: {elapsed:.2f}s"


def test_ten_thousand_segments_search(big_client: TestClient) -> None:
    html = big_client.get("/", params={"q": "t0999"}).text
    assert _segment_keys(html) == [f"tenant=t0999{i}" for i in range(10)] or sorted(
        _segment_keys(html)
    ) == [f"tenant=t0999{i}" for i in range(10)]
    assert f"{DASHBOARD_SHIFTED}" in big_client.get("/", params={"sort": "-excess_gap"}).text


DASHBOARD_PAGES = ["/", f"/segments/{quote(DASHBOARD_SHIFTED, safe='')}", "/alerts", "/reports"]


def test_security_headers_on_every_page(client: TestClient) -> None:
    reports = client.get("/reports").text
    report_id = re.search(r'href="/reports/(\d+)"', reports).group(1)
    for path in [*DASHBOARD_PAGES, f"/reports/{report_id}", "/login", "/static/dashboard.js"]:
        response = client.get(path)
        assert response.status_code == 200, path
        headers = response.headers
        csp = headers["content-security-policy"]
        assert "script-src 'self';" in csp and "frame-ancestors 'none'" in csp, path
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp, path
        assert headers["x-frame-options"] == "DENY", path
        assert headers["x-content-type-options"] == "nosniff", path
        assert headers["referrer-policy"] == "same-origin", path
    # Pages hold no inline script for that policy to block.
    for path in DASHBOARD_PAGES:
        html = client.get(path).text
        assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", html) == [], path
        assert " onclick=" not in html and "javascript:" not in html
    content = client.get(f"/reports/{report_id}/content").headers
    assert content["content-security-policy"].startswith("sandbox allow-scripts;")
    assert "allow-same-origin" not in content["content-security-policy"]
    assert "frame-ancestors 'self'" in content["content-security-policy"]
    assert content["x-frame-options"] == "SAMEORIGIN"
    assert content["x-content-type-options"] == "nosniff"


def test_pages_need_a_read_key(engine: Engine) -> None:
    anonymous = TestClient(dashboard_app(engine)[0])
    for path in DASHBOARD_PAGES:
        response = anonymous.get(path, follow_redirects=False)
        assert response.status_code == 303, path
        assert response.headers["location"] == "/login?next=" + quote(path, safe="/"), path
    ingest_only = TestClient(dashboard_app(engine)[0], headers=auth("ingest"))
    assert ingest_only.get("/alerts").status_code == 403
    reader = TestClient(dashboard_app(engine)[0], headers=auth("read"))
    html = reader.get("/alerts").text
    assert "data-url" not in html and "admin only" in html
