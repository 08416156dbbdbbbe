"""The attribution on the segment page and in the weekly report (PostgreSQL and SQLite)."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import numpy as np
from fastapi.testclient import TestClient

from benchmarks.attribution_scenarios import BASE, SCENARIOS, generate
from shadowgap.config import get_settings
from shadowgap.db.engine import session_scope
from shadowgap.db.models import Segment
from shadowgap.reporting import build_weekly_report
from tests.support.attribution_store import store_period
from tests.support.settings import auth

KEY = "tenant=hooli"
N = 1500
DENSE = (0.5, 1.0)


def _seed(scenario: str, end: datetime) -> None:
    """Two weeks ending at ``end``: the first as usual, the second with the cause injected."""
    _, after = SCENARIOS[scenario]
    rng = np.random.default_rng(2)
    week, step = timedelta(days=7), timedelta(days=7) / N
    with session_scope() as session:
        segment = Segment(key=KEY, dimensions={"tenant": "hooli"})
        session.add(segment)
        session.flush()
        before = generate(replace(BASE, sample_rates=DENSE), N, rng)
        later = generate(replace(after, sample_rates=DENSE), N, rng)
        store_period(session, segment, before, end - 2 * week, step, "b")
        store_period(session, segment, later, end - week, step, "a")


def test_segment_page_says_why(any_db: str, configure, client: TestClient) -> None:
    client.headers.update(auth("read"))
    configure(attribution_resamples=49)
    _seed("cheap_quality", datetime.now(UTC) - timedelta(minutes=1))
    html = client.get("/segments/" + quote(KEY, safe=""), params={"days": 7}).text
    assert 'id="attribution"' in html
    assert "of the rise comes from the cheap model doing worse on comparable requests" in html
    rows = re.findall(r'<tr data-metric="quality" data-factor="(\w+)">', html)
    assert rows == ["router_share", "cheap_quality", "traffic_mix"]
    assert "<script" not in html.split('id="attribution"')[1].split("</table>")[0]


def test_weekly_report_carries_the_attribution(any_db: str, configure) -> None:
    configure(attribution_resamples=49)
    end = datetime(2026, 11, 16, tzinfo=UTC)
    _seed("routing_share", end)
    with session_scope() as session:
        report = build_weekly_report(
            session, end - timedelta(days=7), end, get_settings(), workers=1
        )
        summary, html = report.summary, report.html
    row = next(r for r in summary["segments"] if r["key"] == KEY)
    attribution = row["attribution"]
    assert attribution["available"] and attribution["before"]["events"] == N
    assert "router sending more of this segment cheap" in attribution["quality"]["sentence"]
    assert 'id="attribution"' in html and "router sending more of this segment cheap" in html


def test_overview_and_weekly_show_cost_saved_quality_lost_p95_added(
    embedded: str, configure, client: TestClient
) -> None:
    client.headers.update(auth("read"))
    configure(attribution_resamples=0)
    end = datetime.now(UTC) - timedelta(minutes=1)
    _seed("tail_escalations", end)
    html = client.get("/").text
    cell = re.search(r'<td class="tradeoff">([^<]*)</td>', html)
    assert cell is not None
    saved, lost, added = (part.strip() for part in cell.group(1).split(" / "))
    # 500 latest events: half cheap at ~$0.0008 instead of ~$0.012, escalations at 8%.
    assert saved.startswith("$") and 4.0 < float(saved.strip("$")) < 7.0
    # No noise pairs: the excess gap is the flagship-wins rate (0.05 + 0.4 x score below 0.5,
    # about 15%) times the cheap share (50%), per 1,000 requests.
    assert 40 < float(lost) < 110
    assert added.endswith(" ms") and float(added.split()[0].replace(",", "")) > 100
    with session_scope() as session:
        report = build_weekly_report(
            session, end - timedelta(days=7), end, get_settings(), workers=1
        )
        row = next(r for r in report.summary["segments"] if r["key"] == KEY)
    assert row["p95_added_ms"] is not None and row["p95_added_ms"] > 100
