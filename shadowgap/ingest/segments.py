"""Segment keys: which slice of traffic an event belongs to.

A segment is the combination of the configured dimensions' values, e.g. with dimensions
``tenant,tag:lang=`` the key is ``tenant=acme|tag:lang=de``. Keys are stable strings so that
they can be used in URLs, alert dedup keys and reports.
"""

from __future__ import annotations

from typing import Any

from shadowgap.schemas import CONTROL_CHARACTERS, TrafficEvent

MISSING = "-"


def dimension_value(event: TrafficEvent, dimension: str) -> str:
    attrs = event.attributes
    value: Any
    if dimension == "route_tier":
        value = event.route.tier
    elif dimension == "route_model":
        value = event.route.model
    elif dimension.startswith("tag:"):
        prefix = dimension[4:]
        value = next((tag[len(prefix) :] for tag in attrs.tags if tag.startswith(prefix)), None)
    elif dimension.startswith("metadata."):
        value = attrs.metadata.get(dimension[len("metadata.") :])
    else:
        value = getattr(attrs, dimension)
    if value is None or value == "":
        return MISSING
    # '|' separates dimensions in the key; keep the key parseable. Control characters (only
    # metadata values can hold them: the other dimensions refuse them) become U+FFFD, so that
    # every key can be shown and reached by its URL.
    return CONTROL_CHARACTERS.sub("\ufffd", str(value).replace("|", "/")[:128])


def segment_of(event: TrafficEvent, dimensions: list[str]) -> tuple[str, dict[str, str]]:
    """The segment key and its dimension values for one event."""
    values = {dim: dimension_value(event, dim) for dim in dimensions}
    key = "|".join(f"{dim}={value}" for dim, value in values.items()) or "all"
    return key, values
