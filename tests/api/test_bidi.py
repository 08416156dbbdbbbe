"""Bidi controls in a sender's values are isolated wherever they are shown: a tenant with
U+202E (right-to-left override) or U+2066 (left-to-right isolate) and no closing character
reversed the rest of the overview row, the alerts page, the segment page's title and heading,
and the weekly report."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from shadowgap.bidi import isolate
from shadowgap.config import get_settings
from shadowgap.db import models
from shadowgap.db.engine import session_scope
from shadowgap.reporting.weekly import build_weekly_report
from tests.support.factories import native_event
from tests.support.settings import auth

TENANTS = ["abc\u202eevil", "x\u2066y", "p\u202bq\u2069\u202c"]
START = datetime(2026, 11, 2, tzinfo=UTC)
OPENERS = {"\u202a": "\u202c", "\u202b": "\u202c", "\u202d": "\u202c", "\u202e": "\u202c"}
OPENERS |= {"\u2066": "\u2069", "\u2067": "\u2069", "\u2068": "\u2069"}


def assert_isolated(html: str) -> None:
    """Every explicit embedding or isolate is closed before the next tag starts, and no
    closer closes what the page opened."""
    open_: list[str] = []
    for position, char in enumerate(html):
        if char in OPENERS:
            open_.append(OPENERS[char])
        elif char in ("\u202c", "\u2069"):
            assert open_ and char in open_, (
                f"stray closer at {position}: {html[position - 80 : position + 20]!r}"
            )
            while open_.pop() != char:
                pass
        elif char == "<":
            assert not open_, (
                f"unclosed bidi control before {html[position - 80 : position + 20]!r}"
            )


def test_isolate_balances_and_wraps() -> None:
    assert isolate("plain") == "plain"
    assert isolate("a\u202eb") == "\u2068a\u202eb\u202c\u2069"
    assert isolate("a\u2069b") == "\u2068ab\u2069"  # a stray PDI would close the wrapper
    assert isolate("\u2066a\u202eb") == "\u2068\u2066a\u202eb\u202c\u2069\u2069"
    for text in TENANTS:
        assert_isolated(isolate(text) + "<")


@pytest.fixture
def seeded(embedded: str, client: TestClient) -> list[str]:
    events = []
    for day in range(14):
        for i, tenant in enumerate(TENANTS):
            at = START + timedelta(days=day, hours=i)
            events.append(native_event(f"bidi-{day}-{i}", tenant=tenant, row=day, at=at))
    assert client.post("/v1/events", json=events, headers=auth()).status_code == 200
    with session_scope() as session:
        keys = list(session.scalars(select(models.Segment.key)))
        for segment_id in session.scalars(select(models.Segment.id)):
            session.add(
                models.Alert(
                    segment_id=segment_id,
                    signal="quality_gap",
                    status="open",
                    severity="error",
                    evidence={"before": {"value": 0.1, "n": 500}, "after": {"value": 0.4, "n": 9}},
                    opened_at=datetime.now(UTC),
                )
            )
    return keys


def test_pages_isolate_bidi_controls(seeded: list[str], client: TestClient) -> None:
    assert len(seeded) == len(TENANTS)
    pages = {"/": None, "/alerts": None}
    pages |= {f"/segments/{quote(key, safe='')}": key for key in seeded}
    for path in pages:
        response = client.get(path, headers=auth("read"))
        assert response.status_code == 200, path
        html = response.text
        assert "\u202e" in html and "\u2066" in html or pages[path], path
        assert_isolated(html)


def test_the_weekly_report_isolates_bidi_controls(seeded: list[str]) -> None:
    with session_scope() as session:
        report = build_weekly_report(
            session, START + timedelta(days=7), START + timedelta(days=14), get_settings()
        )
        html = report.html
        session.rollback()
    assert "\u202e" in html and "\u2066" in html
    assert_isolated(html)
