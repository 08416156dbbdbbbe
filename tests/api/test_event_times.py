"""Event time next to arrival time: segments' first/last event times, and where a drift event
fired (the sender's event_id and its event time), on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

from fastapi.testclient import TestClient
from sqlalchemy import select

from shadowgap.db import models
from shadowgap.db.engine import session_scope
from tests.support.factories import native_event
from tests.support.settings import auth

# A backfill: traffic from two weeks in November, delivered out of order today.
NOV_3 = datetime(2026, 11, 3, 9, 30, tzinfo=UTC)
NOV_10 = datetime(2026, 11, 10, 18, 0, tzinfo=UTC)
NOV_16 = datetime(2026, 11, 16, 23, 59, 59, tzinfo=UTC)


def _post(client: TestClient, events: list[dict[str, object]]) -> None:
    response = client.post("/v1/events", json=events, headers=auth())
    assert response.status_code == 200, response.text


def _segment(client: TestClient, key: str) -> dict[str, object]:
    response = client.get(f"/v1/segments/{quote(key)}", headers=auth("read"))
    assert response.status_code == 200, response.text
    return dict(response.json())


def _parse(value: object) -> datetime:
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def test_segments_keep_event_times_beside_arrival_times(any_db: str, client: TestClient) -> None:
    before = datetime.now(UTC)
    _post(client, [native_event("bf-2", at=NOV_10), native_event("bf-3", at=NOV_16, row=1)])
    _post(client, [native_event("bf-1", at=NOV_3, row=2)])  # an older event arrives later
    _post(client, [native_event("other-1", tenant="globex", at=NOV_10)])
    after = datetime.now(UTC)

    acme = _segment(client, "tenant=acme")
    assert (_parse(acme["first_event_at"]), _parse(acme["last_event_at"])) == (NOV_3, NOV_16)
    # Arrival times are today's clock, whatever the events' timestamps.
    for name in ("first_seen_at", "last_seen_at"):
        assert before <= _parse(acme[name]) <= after, (name, acme[name])
    globex = _segment(client, "tenant=globex")
    assert _parse(globex["first_event_at"]) == _parse(globex["last_event_at"]) == NOV_10

    # A redelivery of a stored id, and a new event inside the range, change neither end.
    _post(client, [native_event("bf-1", at=NOV_3, row=2), native_event("bf-4", at=NOV_10)])
    acme = _segment(client, "tenant=acme")
    assert (_parse(acme["first_event_at"]), _parse(acme["last_event_at"])) == (NOV_3, NOV_16)
    assert acme["volume"] == 4

    listed = client.get(
        "/v1/segments", params={"sort": "-last_event"}, headers=auth("read")
    ).json()["segments"]
    # Ascending by latest event time: globex (Nov 10) before acme (Nov 16).
    assert [s["key"] for s in listed] == ["tenant=globex", "tenant=acme"]
    assert {"first_event_at", "last_event_at", "first_seen_at", "last_seen_at"} <= set(listed[0])
    # Latest arrival first: acme's redelivery came after globex's event.
    by_arrival = client.get(
        "/v1/segments", params={"sort": "last_seen"}, headers=auth("read")
    ).json()["segments"]
    assert [s["key"] for s in by_arrival] == ["tenant=acme", "tenant=globex"]


def test_a_batch_sets_both_ends_of_a_new_segment(any_db: str, client: TestClient) -> None:
    times = [NOV_10 + timedelta(minutes=m) for m in (30, -45, 10, 0)]
    _post(client, [native_event(f"b-{i}", row=i, at=t) for i, t in enumerate(times)])
    acme = _segment(client, "tenant=acme")
    assert _parse(acme["first_event_at"]) == NOV_10 - timedelta(minutes=45)
    assert _parse(acme["last_event_at"]) == NOV_10 + timedelta(minutes=30)


def test_drift_events_say_where_they_fired(any_db: str, client: TestClient) -> None:
    _post(client, [native_event("req-early", at=NOV_3), native_event("req-late", at=NOV_16)])
    with session_scope() as session:
        late = session.execute(
            select(models.TrafficEvent).where(models.TrafficEvent.event_id == "req-late")
        ).scalar_one()
        fired = models.DriftEvent(
            segment_id=late.segment_id,
            signal="latency",
            detector="gaussian_cusum",
            at_event_pk=late.id,
            sample_index=2,
            details={},
        )
        unplaced = models.DriftEvent(
            segment_id=late.segment_id,
            signal="quality_gap",
            detector="bernoulli_cusum",
            at_event_pk=None,
            sample_index=1,
            details={},
        )
        session.add_all([fired, unplaced])
        session.flush()
        fired_id, late_pk = fired.id, late.id

    items = client.get("/v1/drift-events", headers=auth("read")).json()["drift_events"]
    by_id = {item["id"]: item for item in items}
    assert by_id[fired_id]["at_event_id"] == "req-late"
    assert _parse(by_id[fired_id]["at_occurred_at"]) == NOV_16
    assert by_id[fired_id]["at_event_pk"] == late_pk  # the internal key stays as it was
    placeless = next(item for item in items if item["id"] != fired_id)
    assert placeless["at_event_id"] is None and placeless["at_occurred_at"] is None

    filtered = client.get(
        "/v1/drift-events", params={"signal": "latency"}, headers=auth("read")
    ).json()
    assert [item["at_event_id"] for item in filtered["drift_events"]] == ["req-late"]
    detail = _segment(client, "tenant=acme")["drift_events"]
    assert {item["at_event_id"] for item in detail} == {"req-late", None}  # type: ignore[union-attr]

    page = client.get("/segments/tenant=acme", headers=auth("read")).text
    cells = re.findall(r'<td class="left at-event">(.*?)</td>', page)
    assert sorted(cells) == ['<span class="key">req-late</span> 2026-11-16 23:59', "–"]


def test_segment_page_shows_event_and_arrival_times(any_db: str, client: TestClient) -> None:
    _post(client, [native_event("p-1", at=NOV_3), native_event("p-2", at=NOV_16, row=1)])
    page = client.get("/segments/tenant=acme", headers=auth("read"))
    assert page.status_code == 200, page.text
    assert '<b id="first-event-at">2026-11-03 09:30</b>' in page.text
    assert '<b id="last-event-at">2026-11-16 23:59</b>' in page.text
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    assert f'<span id="last-seen-at">{today}' in page.text
