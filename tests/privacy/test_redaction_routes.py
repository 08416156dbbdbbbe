"""The same PII through every ingest route (native, LiteLLM, OTLP JSON and protobuf) is stored
redacted on PostgreSQL: redaction is a step of the one ingest pipeline, not of a route."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import select

from shadowgap.config import get_settings
from shadowgap.db import models
from shadowgap.db.engine import session_scope
from shadowgap.ingest.otlp import decode_json
from shadowgap.ingest.store import IngestRequest, store_requests
from shadowgap.schemas import TrafficEvent
from tests.support.factories import native_event
from tests.support.otlp import openinference_span, otlp_json
from tests.support.settings import auth

EMAIL = "jane.doe@example.com"
CARD = "4111 1111 1111 1111"
PHONE = "+1 202-555-0143"
KEY = "sk-proj-Abc123Def456Ghi789Jkl012"
PII = f"I am {EMAIL}, card {CARD}, phone {PHONE}, key {KEY}."
# What must not be found anywhere once stored (pieces too: a partial redaction leaks).
LEAKS = (EMAIL, "jane.doe", "4111 1111", "555-0143", KEY, "Abc123Def456")
LITELLM = Path(__file__).resolve().parent.parent / "fixtures" / "litellm" / "single_0.json"


def _native() -> dict:
    event = native_event("pii-native")
    event["request"]["messages"][0]["content"] = f"{PII} What is 2+2?"
    event["answer"] = f"Sure {EMAIL}, 4."
    event["route"]["reason"] = f"asked by {EMAIL}"
    return event


def _litellm() -> dict:
    payload = copy.deepcopy(json.loads(LITELLM.read_text()))
    payload["id"] = payload["litellm_call_id"] = "pii-litellm"
    payload["messages"] = [{"role": "user", "content": f"{PII} Capital of Australia?"}]
    payload["response"]["choices"][0]["message"]["content"] = f"Canberra, {EMAIL}."
    return payload


def _otlp(span_id: str) -> bytes:
    return otlp_json([openinference_span(span_id, f"{PII} What is 3+3?", f"6, {EMAIL}")])


def _everything_stored() -> str:
    """Every value of every table but pending_originals: the sampled events' original text,
    kept on purpose for the flagship and judge until their verdicts are stored
    (shadowgap/privacy/originals.py), by every route alike."""
    with session_scope() as session:
        dumped = []
        for table in models.Base.metadata.sorted_tables:
            if table.name == models.PendingOriginal.__tablename__:
                continue
            rows = session.execute(select(table)).all()
            dumped.append(json.dumps([list(r) for r in rows], default=str))
        return "\n".join(dumped)


def test_pii_is_redacted_on_every_route(
    production: str, configure: Callable[..., None], client: TestClient
) -> None:
    # Every event cheap and sampled, so that every route's originals are kept alike.
    configure(sampling_budget_fraction=1.0, cheap_routes="cheap,gpt-4o-mini,smart-router")
    assert client.post("/v1/events", json=[_native()], headers=auth()).status_code == 200
    response = client.post("/v1/ingest/litellm", json=_litellm(), headers=auth())
    assert response.status_code == 200, response.text
    response = client.post(
        "/v1/traces",
        content=_otlp("00f067aa0ba902b7"),
        headers={**auth(), "Content-Type": "application/json"},
    )
    assert response.status_code == 200, response.text
    protobuf = decode_json(_otlp("00f067aa0ba902b8")).SerializeToString()
    response = client.post(
        "/v1/traces",
        content=protobuf,
        headers={**auth(), "Content-Type": "application/x-protobuf"},
    )
    assert response.status_code == 200, response.text

    with session_scope() as session:
        rows = session.execute(select(models.TrafficEvent)).scalars().all()
        assert sorted(r.source_format for r in rows) == ["litellm", "native", "otlp", "otlp"]
        for row in rows:
            user = [m for m in row.request["messages"] if m["role"] == "user"][-1]
            assert "[EMAIL]" in user["content"] and "[SECRET]" in user["content"], row.source_format
            assert "[CARD]" in user["content"] and "[PHONE]" in user["content"], row.source_format
            assert "[EMAIL]" in row.answer, row.source_format
        kept = session.execute(select(models.PendingOriginal.event_pk)).scalars().all()
        assert set(kept) == {r.id for r in rows}  # every route keeps originals alike
    everything = _everything_stored()
    for leak in LEAKS:
        assert leak not in everything, leak


def test_a_request_built_without_redaction_is_redacted_by_the_store(
    production: str, configure: Callable[..., None]
) -> None:
    """A route (or a future one) that hands the writer raw events cannot skip redaction."""
    configure(sampling_budget_fraction=1.0)
    raw = TrafficEvent.model_validate(_native())
    with session_scope() as session:
        store_requests(session, [IngestRequest([raw], "native")], get_settings(), datetime.now(UTC))
    everything = _everything_stored()
    assert "[EMAIL]" in everything
    for leak in LEAKS:
        assert leak not in everything, leak
