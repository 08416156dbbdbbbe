"""Free-form JSON (request params, metadata, content parts) nests at most MAX_NESTING levels:
deeper is a 422 naming the field, on both databases (it was a 500, "Maximum serialization
depth exceeded", when the event was stored), and real tool schemas pass."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from shadowgap.db import models
from shadowgap.db.engine import session_scope
from shadowgap.schemas import MAX_NESTING
from tests.support.factories import native_event
from tests.support.settings import auth

BFCL = Path(__file__).resolve().parents[3] / "shared" / "data" / "bfcl"


def _nested(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": 1}
    for _ in range(levels - 1):
        value = {"a": value}
    return value


def _events() -> int:
    with session_scope() as session:
        return int(session.execute(select(func.count(models.TrafficEvent.id))).scalar_one())


@pytest.mark.parametrize(
    ("where", "levels", "field"),
    [
        ("metadata", 260, "attributes.metadata"),
        ("params", 500, "request.params"),
        ("content", 300, "request.messages[0].content"),
        ("metadata", MAX_NESTING + 1, "attributes.metadata"),
    ],
)
def test_deep_nesting_is_a_422_naming_the_field(
    any_db: str, client: TestClient, where: str, levels: int, field: str
) -> None:
    event = native_event(f"deep-{where}-{levels}")
    if where == "metadata":
        event["attributes"]["metadata"] = _nested(levels)
    elif where == "params":
        event["request"]["params"] = _nested(levels)
    else:
        event["request"]["messages"][0]["content"] = [_nested(levels - 1)]
    response = client.post("/v1/events", json=[event], headers=auth())
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["detail"]["field"] == field
    assert f"deeper than {MAX_NESTING} levels" in body["error"]
    assert _events() == 0


def test_nesting_at_the_limit_is_stored(any_db: str, client: TestClient) -> None:
    event = native_event("deep-ok")
    event["attributes"]["metadata"] = _nested(MAX_NESTING)
    event["request"]["params"] = _nested(MAX_NESTING)
    response = client.post("/v1/events", json=[event], headers=auth())
    assert response.status_code == 200, response.text
    assert _events() == 1


def _bfcl_tools() -> list[list[dict[str, Any]]]:
    """Every BFCL entry's functions as OpenAI ``tools`` (the deepest real schemas at hand)."""
    tools = []
    for path in sorted(BFCL.glob("*.json")):
        for line in path.read_text().splitlines():
            if line.strip():
                functions = json.loads(line)["function"]
                tools.append([{"type": "function", "function": f} for f in functions])
    return tools


def test_real_tool_schemas_pass(embedded: str, client: TestClient) -> None:
    tools = _bfcl_tools()
    assert len(tools) > 2000
    events = []
    for index, entry in enumerate(tools):
        event = native_event(f"bfcl-{index}")
        parameters = entry[0]["function"].get("parameters", {}) if entry else {}
        schema = {"type": "json_schema", "json_schema": {"name": "answer", "schema": parameters}}
        event["request"]["params"] = {"tools": entry, "response_format": schema}
        event["attributes"]["metadata"] = {"tools": entry}
        events.append(event)
    for start in range(0, len(events), 500):
        response = client.post("/v1/events", json=events[start : start + 500], headers=auth())
        assert response.status_code == 200, response.text[:500]
    assert _events() == len(events)
