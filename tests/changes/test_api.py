"""POST/GET /v1/changes on both databases: auth, validation naming the field, the late
announcement that resolves the routing alert it explains."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from shadowgap.db.engine import get_sessionmaker
from shadowgap.db.models import Alert, DriftEvent, RouterChange, Segment
from shadowgap.enums import AlertStatus, Severity
from tests.support.settings import auth

NOW = datetime.now(UTC)


def _segment(key: str = "hooli") -> int:
    with get_sessionmaker()() as session:
        segment = Segment(key=f"tenant={key}", dimensions={"tenant": key}, event_count=10)
        session.add(segment)
        session.commit()
        return segment.id


def _body(**overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "scope": "tenant=hooli",
        "at": (NOW - timedelta(hours=1)).isoformat(),
        "description": "route hooli's hard prompts to the flagship",
        "proposal_id": "prop-7",
        "predicted": {"cost_per_day": {"value": 3.0, "ci": [2.0, 4.0]}},
    }
    body.update(overrides)
    return body


def test_record_and_list(any_db: str, client: TestClient) -> None:
    _segment()
    response = client.post("/v1/changes", json=_body(), headers=auth("admin"))
    assert response.status_code == 201, response.text
    change = response.json()
    assert change["status"] == "pending"
    assert change["proposal_id"] == "prop-7"
    assert change["recorded_by"].startswith("key:")
    listed = client.get("/v1/changes", headers=auth("read")).json()["items"]
    assert [item["id"] for item in listed] == [change["id"]]
    assert client.get(
        "/v1/changes", params={"scope": "tenant=other"}, headers=auth("read")
    ).json() == {"items": []}


def test_recording_needs_the_admin_scope(any_db: str, client: TestClient) -> None:
    _segment()
    assert client.post("/v1/changes", json=_body()).status_code == 401
    for scope in ("ingest", "read"):
        assert client.post("/v1/changes", json=_body(), headers=auth(scope)).status_code == 403
    assert client.get("/v1/changes", headers=auth("ingest")).status_code == 403


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"scope": "tennant=hooli"}, "scope"),
        ({"scope": "tenant=nobody"}, "scope"),
        ({"scope": ""}, "scope"),
        ({"at": (NOW + timedelta(days=1)).isoformat()}, "at"),
        ({"at": "2026-01-01T00:00:00"}, "body.at"),
        ({"at": "yesterday"}, "body.at"),
        ({"predicted": {"quality": {"value": 1}}}, "predicted.quality"),
        ({"predicted": {"p95_ms": {"value": 5, "ci": [6, 9]}}}, "predicted.p95_ms.ci"),
        ({"predicted": {"p95_ms": {"value": "fast"}}}, "predicted.p95_ms.value"),
        ({"proposal_id": "x" * 200}, "proposal_id"),
        ({"description": "x" * 3000}, "description"),
        ({"colour": "blue"}, "body.colour"),
        ({"scope": "tenant=hoo\u0000li"}, "scope"),
        ({"proposal_id": "p\n1"}, "proposal_id"),
        ({"description": "a\u0000b"}, "description"),
    ],
)
def test_bad_input_is_a_422_naming_the_field_and_writes_nothing(
    any_db: str, client: TestClient, overrides: dict[str, object], field: str
) -> None:
    _segment()
    response = client.post("/v1/changes", json=_body(**overrides), headers=auth("admin"))
    assert response.status_code == 422, response.text
    assert response.json()["detail"]["field"] == field
    with get_sessionmaker()() as session:
        assert session.scalars(select(RouterChange)).all() == []


def test_a_late_announcement_resolves_the_routing_alert_it_explains(
    embedded: str, configure: Callable[..., None], client: TestClient
) -> None:
    """Scope tenant=hooli is a slice of two segments (tenant x team); each has a routing
    alert, one detected before the change went live (kept), one after (resolved by it)."""
    configure(segment_dimensions="tenant,team")
    at = NOW - timedelta(hours=2)
    with get_sessionmaker()() as session:
        alerts = []
        for team, minutes in (("a", -30), ("b", 30)):
            segment = Segment(
                key=f"tenant=hooli|team={team}", dimensions={"tenant": "hooli", "team": team}
            )
            session.add(segment)
            session.flush()
            drift = DriftEvent(
                segment_id=segment.id,
                signal="routing_share",
                detector="two_sided_cusum",
                sample_index=10,
                details={"event_occurred_at": (at + timedelta(minutes=minutes)).isoformat()},
            )
            session.add(drift)
            session.flush()
            alert = Alert(
                segment_id=segment.id,
                signal="routing_share",
                status=AlertStatus.OPEN,
                severity=Severity.WARNING,
                drift_event_id=drift.id,
                evidence={"type": "drift", "segment": {"key": segment.key}},
            )
            session.add(alert)
            session.flush()
            alerts.append(alert.id)
        session.commit()
    response = client.post("/v1/changes", json=_body(at=at.isoformat()), headers=auth("admin"))
    assert response.status_code == 201, response.text
    with get_sessionmaker()() as session:
        before, after = (session.get(Alert, i) for i in alerts)
        assert after is not None and after.status == AlertStatus.RESOLVED
        assert after.resolved_by == f"change:{response.json()['id']}"
        assert before is not None and before.status == AlertStatus.OPEN
