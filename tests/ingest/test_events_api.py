"""POST /v1/events: formats, idempotency, authentication, bad input, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import time

from fastapi.testclient import TestClient
from prometheus_client import REGISTRY
from sqlalchemy import func, select

from shadowgap.api.auth.signing import sign
from shadowgap.db import models
from shadowgap.db.engine import session_scope
from tests.support.factories import native_event, stream
from tests.support.settings import auth


def count(model: type) -> int:
    with session_scope() as session:
        return session.execute(select(func.count()).select_from(model)).scalar_one()


def test_single_array_and_ndjson_are_stored(any_db: str, client: TestClient) -> None:
    single = client.post("/v1/events", json=native_event("a-1"), headers=auth())
    assert single.status_code == 200, single.text
    assert single.json()["new"] == 1

    array = client.post(
        "/v1/events", json=[native_event(f"b-{i}", row=i) for i in range(5)], headers=auth()
    )
    assert array.json() == {**array.json(), "accepted": 5, "new": 5, "duplicates": 0}

    ndjson = "\n".join(json.dumps(native_event(f"c-{i}", row=i)) for i in range(3)) + "\n"
    response = client.post(
        "/v1/events",
        content=ndjson,
        headers={**auth(), "Content-Type": "application/x-ndjson"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["new"] == 3
    assert count(models.TrafficEvent) == 9

    with session_scope() as session:
        stored = session.execute(
            select(models.TrafficEvent).where(models.TrafficEvent.event_id == "a-1")
        ).scalar_one()
        assert stored.route_tier == "cheap" and stored.is_cheap
        assert stored.request["messages"][0]["role"] == "user"
        assert stored.occurred_at.tzinfo is not None
        segment = session.get(models.Segment, stored.segment_id)
        assert segment is not None and segment.key == "tenant=acme"


def test_redelivery_is_stored_once(any_db: str, client: TestClient) -> None:
    batch = [native_event(f"r-{i}", row=i) for i in range(4)]
    first = client.post("/v1/events", json=batch, headers=auth()).json()
    again = client.post("/v1/events", json=batch + [native_event("r-new")], headers=auth()).json()
    assert (first["new"], first["duplicates"]) == (4, 0)
    assert (again["new"], again["duplicates"]) == (1, 4)
    # The same id twice in one batch counts once.
    twice = client.post(
        "/v1/events", json=[native_event("t-1"), native_event("t-1")], headers=auth()
    )
    assert (twice.json()["new"], twice.json()["duplicates"]) == (1, 1)
    assert count(models.TrafficEvent) == 6
    with session_scope() as session:
        assert session.execute(select(func.sum(models.Segment.event_count))).scalar_one() == 6


def test_unauthenticated_requests_store_nothing(any_db: str, client: TestClient) -> None:
    body = native_event("u-1")
    missing = client.post("/v1/events", json=body)
    wrong = client.post("/v1/events", json=body, headers={"Authorization": "Bearer nope"})
    assert missing.status_code == 401 and wrong.status_code == 401
    assert missing.json()["error"].startswith("missing API key")
    assert "nope" not in wrong.text
    assert count(models.TrafficEvent) == 0


def test_hmac_signature_and_replay_window(embedded: str, configure, client: TestClient) -> None:
    configure(hmac_secret="s3cret-signing-key")
    body = json.dumps(native_event("h-1")).encode()
    now = str(int(time.time()))
    headers = {**auth(), "Content-Type": "application/json", "X-Shadowgap-Timestamp": now}

    unsigned = client.post("/v1/events", content=body, headers=headers)
    bad = client.post(
        "/v1/events", content=body, headers={**headers, "X-Shadowgap-Signature": "sha256=00"}
    )
    old_ts = str(int(time.time()) - 3600)
    stale = client.post(
        "/v1/events",
        content=body,
        headers={
            **headers,
            "X-Shadowgap-Timestamp": old_ts,
            "X-Shadowgap-Signature": sign("s3cret-signing-key", old_ts, body),
        },
    )
    assert [r.status_code for r in (unsigned, bad, stale)] == [401, 401, 401]
    assert "replay window" in stale.json()["error"]
    assert count(models.TrafficEvent) == 0

    good = client.post(
        "/v1/events",
        content=body,
        headers={**headers, "X-Shadowgap-Signature": sign("s3cret-signing-key", now, body)},
    )
    assert good.status_code == 200, good.text
    assert "s3cret" not in good.text


def test_bad_item_names_field_and_item_and_stores_nothing(any_db: str, client: TestClient) -> None:
    batch = [native_event(f"v-{i}", row=i) for i in range(3)]
    batch[2]["route"].pop("tier")
    response = client.post("/v1/events", json=batch, headers=auth())
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert detail == {"field": "route.tier", "item": 2}
    assert "route.tier" in response.json()["error"]

    negative = native_event("v-9", latency_ms=-5)
    response = client.post("/v1/events", json=negative, headers=auth())
    assert response.json()["detail"]["field"] == "latency_ms"

    unknown = native_event("v-10", colour="red")
    response = client.post("/v1/events", json=unknown, headers=auth())
    assert response.status_code == 422 and response.json()["detail"]["field"] == "colour"
    assert count(models.TrafficEvent) == 0
    assert count(models.Segment) == 0


def test_not_json_and_too_large(embedded: str, configure, client: TestClient) -> None:
    response = client.post("/v1/events", content=b"{not json", headers=auth())
    assert response.status_code == 422 and response.json()["detail"]["field"] == "body"

    bad_line = json.dumps(native_event("n-1")) + "\n{oops\n"
    response = client.post("/v1/events", content=bad_line, headers=auth())
    assert response.status_code == 422 and response.json()["detail"] == {"field": "body", "item": 1}

    configure(max_body_bytes=2048)
    big = client.post("/v1/events", json=stream(10), headers=auth())
    assert big.status_code == 413
    assert count(models.TrafficEvent) == 0


def test_segments_list_volume_and_cheap_share(any_db: str, client: TestClient) -> None:
    events = (
        stream(30, tenant="acme")
        + [native_event(f"f-{i}", tenant="acme", tier="flagship", row=i) for i in range(10)]
        + [native_event(f"g-{i}", tenant="globex", row=i) for i in range(5)]
    )
    assert client.post("/v1/events", json=events, headers=auth()).status_code == 200
    body = client.get("/v1/segments", headers=auth("read")).json()
    by_key = {s["key"]: s for s in body["segments"]}
    assert by_key["tenant=acme"]["volume"] == 40
    assert by_key["tenant=acme"]["cheap_share"] == 0.75
    assert by_key["tenant=globex"]["cheap_share"] == 1.0
    assert body["segments"][0]["key"] == "tenant=acme"  # sorted by volume
    searched = client.get("/v1/segments", params={"q": "glob"}, headers=auth("read")).json()
    assert [s["key"] for s in searched["segments"]] == ["tenant=globex"]
    assert client.get("/v1/segments/tenant=nobody", headers=auth("read")).status_code == 404


def test_health_ready_metrics(any_db: str, client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.text
    labels = {"format": "native", "outcome": "new"}
    before = REGISTRY.get_sample_value("shadowgap_events_total", labels) or 0.0
    client.post("/v1/events", json=stream(3), headers=auth())
    text = client.get("/metrics", headers=auth("read")).text
    assert REGISTRY.get_sample_value("shadowgap_events_total", labels) == before + 3
    assert "shadowgap_events_total" in text
    assert "shadowgap_queue_depth" in text


def test_readyz_reports_unreachable_broker(embedded: str, configure, client: TestClient) -> None:
    configure(broker_url="redis://127.0.0.1:1/0")
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["database"] == "ok" and response.json()["broker"] != "ok"
