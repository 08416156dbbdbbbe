"""The segment page marks recorded router changes on its charts and lists their verdicts."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from shadowgap.changes.verify import verify_open_changes
from shadowgap.config import get_settings
from shadowgap.db.engine import get_sessionmaker
from shadowgap.db.models import RouterChange
from shadowgap.enums import ChangeStatus
from tests.changes.conftest import T0, Traffic
from tests.support.settings import auth

AT = T0 + timedelta(days=14)


def test_changes_are_markers_on_every_chart_with_their_verdict(
    embedded: str, client: TestClient
) -> None:
    with get_sessionmaker()() as session:
        traffic = Traffic(session, "hooli", seed=5)
        traffic.add(T0, 14, 200)
        traffic.add(AT, 14, 200, win_rate=0.45)
        for at, what in (
            (AT, "route hooli's hard prompts cheap"),
            (T0 - timedelta(days=60), "old"),
        ):
            session.add(
                RouterChange(
                    scope="tenant=hooli",
                    at=at,
                    description=what,
                    recorded_by="test",
                    status=ChangeStatus.PENDING,
                    verification={},
                )
            )
        session.flush()
        verify_open_changes(session, get_settings(), datetime(2025, 3, 1, tzinfo=UTC))
        session.commit()

    html = client.get("/segments/tenant=hooli", params={"days": 30}, headers=auth("read")).text
    # Every signal's chart (the threshold what-if is over the router score, not time).
    charts = [
        chart
        for chart in re.findall(r'<svg class="chart".*?</svg>', html, re.S)
        if 'data-signal="thresholds"' not in chart
    ]
    assert len(charts) >= 5
    for chart in charts:
        # The change inside the window is marked, as regressed; the one before it is not drawn.
        markers = re.findall(r'<g class="change change-(\w+)" data-t="(\d+)"', chart)
        assert markers == [("regressed", str(int(AT.timestamp())))], chart[:120]
    row = re.search(r'<tr data-change="1">.*?</tr>', html, re.S)
    assert row is not None and "regressed" in row.group(0) and "roll back" in row.group(0)
    assert 'data-change="2"' in html  # the older change is still listed
