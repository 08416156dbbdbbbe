"""The native format: items are TrafficEvent objects as documented in the README."""

from __future__ import annotations

from pydantic import ValidationError

from shadowgap.errors import InvalidInput
from shadowgap.ingest.body import invalid_from_validation, json_items
from shadowgap.schemas import TrafficEvent


def parse_native(body: bytes) -> list[TrafficEvent]:
    events: list[TrafficEvent] = []
    for index, item in enumerate(json_items(body)):
        if not isinstance(item, dict):
            raise InvalidInput(
                f"item {index}: an event must be a JSON object", field="body", item=index
            )
        try:
            events.append(TrafficEvent.model_validate(item))
        except ValidationError as exc:
            raise invalid_from_validation(exc, index) from exc
    return events
