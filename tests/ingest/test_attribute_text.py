"""Segment attributes are text a person reads and part of the segment's URL: control
characters are refused with a 422 naming the field (a tenant "Ta\\r\\nSet-Cookie: x" was
stored, and its segment answered 404 by its own link). A metadata value used as a segment
dimension keeps its control characters in the event, but the key shows them as U+FFFD."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from tests.support.factories import native_event
from tests.support.settings import auth

HOSTILE = ["Ta\r\nSet-Cookie: x", "a\tb", "a\x1b[31mb", "a\x85b", "a\x7fb"]


def _with(field: str, value: str) -> dict:
    event = native_event(f"ctl-{field}-{ord(value[1])}-{len(value)}")
    if field == "attributes.tags":
        event["attributes"]["tags"] = ["ok", value]
    elif field.startswith("route."):
        event["route"][field.split(".")[1]] = value
    else:
        event["attributes"][field.split(".")[1]] = value
    return event


@pytest.mark.parametrize("value", HOSTILE)
@pytest.mark.parametrize(
    "field",
    [
        "attributes.tenant",
        "attributes.team",
        "attributes.user",
        "attributes.api_key_alias",
        "attributes.tags",
        "route.tier",
        "route.model",
    ],
)
def test_control_characters_in_segment_attributes_are_refused(
    embedded: str, client: TestClient, field: str, value: str
) -> None:
    response = client.post("/v1/events", json=[_with(field, value)], headers=auth())
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["detail"]["field"] == field
    assert "control character" in body["error"]


def test_printable_unicode_is_accepted(embedded: str, client: TestClient) -> None:
    event = _with("attributes.tenant", "Zürich — 東京 \u2028 ok")
    assert client.post("/v1/events", json=[event], headers=auth()).status_code == 200


def test_a_metadata_dimension_with_a_newline_stays_reachable(
    embedded: str, configure: Callable[..., None], client: TestClient
) -> None:
    configure(segment_dimensions="tenant,metadata.region")
    event = native_event("ctl-metadata")
    event["attributes"]["metadata"] = {"region": "eu\r\nwest"}
    assert client.post("/v1/events", json=[event], headers=auth()).status_code == 200
    key = "tenant=acme|metadata.region=eu\ufffd\ufffdwest"
    response = client.get(f"/v1/segments/{quote(key, safe='')}", headers=auth("read"))
    assert response.status_code == 200, response.text
    page = client.get(f"/segments/{quote(key, safe='')}", headers=auth("read"))
    assert page.status_code == 200
