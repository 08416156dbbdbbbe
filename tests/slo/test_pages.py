"""The SLO on the dashboard's overview and segment page (the real app, a SQLite file)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from shadowgap.db.engine import make_engine
from shadowgap.db.models import Base
from tests.slo.pairs import add_pairs
from tests.slo.requests_data import add_requests
from tests.support.alert_rows import NOW, add_segment
from tests.support.settings import auth
from tests.support.synthetic import dashboard_app


def test_overview_and_segment_page_show_budget_and_burn(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/pages.db")
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        hot = add_segment(session, "tenant=hot", 240)
        add_pairs(session, hot, n=240, wins_per_10=4, end=NOW, days=27, noise_wins_per_10=1)
        calm = add_segment(session, "tenant=calm", 240)
        add_pairs(session, calm, n=240, wins_per_10=1, end=NOW, days=27, tag="c")
        session.commit()
    client = TestClient(dashboard_app(engine)[0], headers=auth("admin"))

    overview = client.get("/").text
    hot_row = overview.split('href="/segments/tenant%3Dhot"')[1].split("</tr>")[0]
    calm_row = overview.split('href="/segments/tenant%3Dcalm"')[1].split("</tr>")[0]
    # Burn 3x: the budget is overspent by twice itself.
    assert "-200.0% / 3.0x" in hot_row and "burning" in hot_row
    assert "100.0% / 0.0x" in calm_row and "burning" not in calm_row

    page = client.get("/segments/" + quote("tenant=hot", safe="")).text
    table = page.split('id="slo-budget"')[1].split("</table>")[0]
    assert "-200.0% left: 72 of 24 excess wins allowed over 240 cheap requests" in table
    assert "budget pair: 28 d / 3 d at 1x" in table
    assert "too few pairs to look" in table and table.count("burning") == 2
    engine.dispose()


def test_overview_and_segment_page_show_the_latency_and_error_slos(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/pages.db")
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        slow = add_segment(session, "tenant=slow", 3000)
        add_requests(session, slow, n=3000, end=NOW, hours=71, slow_per_1000=30)
        session.commit()
    client = TestClient(dashboard_app(engine)[0], headers=auth("admin"))

    overview = client.get("/").text
    row = overview.split('href="/segments/tenant%3Dslow"')[1].split("</tr>")[0]
    # Latency: 3% slow of a 1% allowance, -200% left; errors: none, all of it left.
    assert "-200.0% <span" in row and "latency burning" in row and "/ 100.0%" in row

    page = client.get("/segments/" + quote("tenant=slow", safe="")).text
    table = page.split('id="slo-request-budget"')[1].split("</table>")[0]
    assert "99.0% within 10,000 ms" in table and "at most 1.0% failed" in table
    assert "-200.0% left: 90 of 30 slow requests allowed over 3,000" in table
    assert "latency budget pair: 3d / 6h at 1x" in table
    assert "too few requests to look" in table  # the 1-hour window holds ~42 requests
    assert table.count("burning") == 1
    engine.dispose()
