"""Discovery on PostgreSQL end to end: events ingested through the real store (features
written by the ingest hook), verdicts, a discovery run, /v1/slices, the Slices page, and the
slice alert: raised once, only after confirmation on the next disjoint window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
from fastapi.testclient import TestClient
from sqlalchemy import func, insert, select

from shadowgap.config import get_settings
from shadowgap.db import models
from shadowgap.db.engine import session_scope
from shadowgap.ingest.store import store_events
from shadowgap.schemas import TrafficEvent
from shadowgap.slices.discovery import discover
from tests.support.factories import native_event
from tests.support.settings import auth
from tests.support.slice_traffic import store_judged

START = datetime(2026, 11, 2, tzinfo=UTC)


def _ingest_window(prefix: str, start: datetime, n: int, seed: int) -> None:
    """``n`` cheap events over 7 days; tenant acme's 'bulk' key (about 8%) regressed."""
    rng = np.random.default_rng(seed)
    events = []
    for i in range(n):
        tenant = ["acme", "globex", "initech", "hooli"][i % 4]
        key = "bulk" if tenant == "acme" and rng.random() < 0.33 else "app"
        raw = native_event(
            f"{prefix}-{i}",
            row=i,
            at=start + timedelta(seconds=int(i * 7 * 86400 / n)),
            attributes={"tenant": tenant, "api_key_alias": key, "user": f"u{i % 50}"},
        )
        events.append(TrafficEvent.model_validate(raw))

    def flagship_won(event: TrafficEvent) -> bool:
        bad = event.attributes.tenant == "acme" and event.attributes.api_key_alias == "bulk"
        return bool(rng.random() < (0.6 if bad else 0.15))

    store_judged(prefix, events, flagship_won, probability=0.5)


def test_slice_found_listed_confirmed_and_alerted_once(production: str, configure) -> None:
    configure(
        database_url=production,
        slice_min_pairs=30,
        alert_outbox_dir="/tmp/shadowgap-slices-outbox",
    )
    _ingest_window("w1", START, 1200, seed=1)
    with session_scope() as session:
        assert session.scalar(select(func.count()).select_from(models.SliceFeatures)) == 1200
        first = discover(session, get_settings(), START + timedelta(days=7))
    assert first.pairs == 1200 and first.found and not first.confirmed

    from shadowgap.api.app import create_app

    with TestClient(create_app()) as anonymous:
        assert anonymous.get("/v1/slices").status_code == 401
    with TestClient(create_app(), headers=auth("read")) as client:
        items = client.get("/v1/slices").json()["items"]
        page = client.get("/slices")
        one = client.get(f"/v1/slices/{items[0]['id']}").json()
        assert client.get("/v1/slices/999999").status_code == 404
    assert one["key"] == items[0]["key"]
    top = items[0]
    assert {"feature": "api_key_alias", "value": "bulk"} in top["conditions"]
    assert {"feature": "tenant", "value": "acme"} in top["conditions"] or len(
        top["conditions"]
    ) == 1
    assert 0.03 < top["traffic_share"] < 0.15
    assert top["n"] >= 60 and top["status"] == "found"
    low, high = top["after"]["ci"]
    assert low > top["complement"]["ci"][1]
    assert top["example_event_ids"] and all(e.startswith("w1-") for e in top["example_event_ids"])
    assert [i["score"] for i in items] == sorted((i["score"] for i in items), reverse=True)
    assert page.status_code == 200 and "api_key_alias=bulk" in page.text
    assert "<script>" not in page.text.replace('<script src="', "")

    # The next, disjoint week still shows the regression: confirmed, one alert.
    _ingest_window("w2", START + timedelta(days=7), 1200, seed=2)
    with session_scope() as session:
        second = discover(session, get_settings(), START + timedelta(days=14))
        assert second.confirmed and second.delivery_ids
        record = session.get(models.Slice, second.confirmed[0])
        assert record is not None and record.alert_id is not None
        alert = session.get(models.Alert, record.alert_id)
        assert alert is not None and alert.signal == f"slice:{record.id}"
        assert alert.evidence["type"] == "slice"
        assert alert.evidence["slice"]["key"] == record.key
        assert alert.evidence["examples"] and alert.evidence["examples"][0]["event_id"]
        assert alert.evidence["after"]["ci"] is not None
        deliveries = session.scalar(select(func.count()).select_from(models.Delivery))
    # Another run on overlapping data: no second alert.
    with session_scope() as session:
        third = discover(session, get_settings(), START + timedelta(days=14, hours=1))
        alerts = session.scalar(
            select(func.count())
            .select_from(models.Alert)
            .where(models.Alert.signal.like("slice:%"))
        )
        keys = session.scalars(
            select(models.Slice.key).where(models.Slice.alert_id.is_not(None))
        ).all()
        assert alerts == 1 and not third.delivery_ids, (keys, first, second, third)
        assert session.scalar(select(func.count()).select_from(models.Delivery)) == deliveries


def test_null_traffic_finds_and_alerts_nothing(production: str, configure) -> None:
    configure(database_url=production, slice_min_pairs=30)
    settings = get_settings()
    rng = np.random.default_rng(5)
    events = [
        TrafficEvent.model_validate(
            native_event(
                f"n-{i}",
                row=i,
                at=START + timedelta(minutes=i),
                attributes={"tenant": ["a", "b", "c"][i % 3], "api_key_alias": f"k{i % 4}"},
            )
        )
        for i in range(900)
    ]
    with session_scope() as session:
        store_events(session, events, "native", settings, datetime.now(UTC))
        rows = session.execute(select(models.TrafficEvent.id, models.TrafficEvent.segment_id)).all()
        session.execute(
            insert(models.Verdict),
            [
                {
                    "event_pk": pk,
                    "segment_id": seg,
                    "kind": "gap",
                    "judge": "answer-match",
                    "winner": "flagship" if rng.random() < 0.2 else "cheap",
                    "gap_score": 0.0,
                    "inclusion_probability": 1.0,
                    "raw": {},
                    "rationale": "",
                }
                for pk, seg in rows
            ],
        )
    with session_scope() as session:
        summary = discover(session, settings, START + timedelta(days=7))
    assert summary.pairs == 900 and summary.tested > 0
    assert summary.found == []


def test_discover_task_runs_on_a_real_worker(production: str, configure, start_worker) -> None:
    from shadowgap.worker import queue
    from tests.support.processes import wait_for

    configure(database_url=production, slice_min_pairs=30)
    _ingest_window("k1", START, 1200, seed=3)
    start_worker("reports,alerts")
    queue.send("slices.discover", [(START + timedelta(days=7)).isoformat()])

    def found() -> list[str]:
        with session_scope() as session:
            return list(session.scalars(select(models.Slice.key)))

    keys = wait_for(found, timeout=120)
    assert any("api_key_alias=bulk" in key.split("&") for key in keys)  # type: ignore[union-attr]
