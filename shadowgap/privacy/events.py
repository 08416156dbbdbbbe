"""Redacting a validated event before it is stored: message contents, answer, error and the
router's reason. Segment attributes (tenant, user, tags) are identifiers the deployment chose
to send for segmentation and purges, so they are kept as sent."""

from __future__ import annotations

from typing import Any

from shadowgap.privacy.redaction import Redactor
from shadowgap.schemas import TrafficEvent


def redact_event(event: TrafficEvent, redactor: Redactor) -> TrafficEvent:
    """A copy with every free-text field redacted (the same object when nothing changed)."""
    if not redactor.enabled:
        return event
    messages = []
    changed = False
    for message in event.request.messages:
        content = redactor.value(message.content)
        if content != message.content:
            changed = True
            message = message.model_copy(update={"content": content})
        messages.append(message)
    update: dict[str, Any] = {}
    if changed:
        update["request"] = event.request.model_copy(update={"messages": messages})
    for name in ("answer", "error"):
        value = getattr(event, name)
        if value is not None and (clean := redactor.text(value)) != value:
            update[name] = clean
    reason = event.route.reason
    if reason is not None and (clean := redactor.text(reason)) != reason:
        update["route"] = event.route.model_copy(update={"reason": clean})
    return event.model_copy(update=update) if update else event


def redact_batch(
    events: list[TrafficEvent], redactor: Redactor, keep_originals: bool
) -> tuple[list[TrafficEvent], dict[str, TrafficEvent]]:
    """Redacted events, and the originals of those that changed (when they are to be kept
    for the flagship and judge; only the sampled ones are ever written)."""
    redacted: list[TrafficEvent] = []
    originals: dict[str, TrafficEvent] = {}
    for event in events:
        clean = redact_event(event, redactor)
        redacted.append(clean)
        if keep_originals and clean is not event:
            originals[event.event_id] = event
    return redacted, originals
