"""Redacting a validated event before it is stored: message contents, answer, error and the
router's reason. Segment attributes (tenant, user, tags) are identifiers the deployment chose
to send for segmentation and purges, so they are kept as sent."""

from __future__ import annotations

from service.privacy.redaction import Redactor
from service.schemas import Message, TrafficEvent


def _message(message: Message, redactor: Redactor) -> Message:
    if message.content is None:
        return message
    return message.model_copy(update={"content": redactor.value(message.content)})


def redact_event(event: TrafficEvent, redactor: Redactor) -> TrafficEvent:
    """A copy with every free-text field redacted (the same object when nothing changed)."""
    if not redactor.enabled:
        return event
    request = event.request.model_copy(
        update={"messages": [_message(m, redactor) for m in event.request.messages]}
    )
    update = {
        "request": request,
        "answer": None if event.answer is None else redactor.text(event.answer),
        "error": None if event.error is None else redactor.text(event.error),
        "route": event.route.model_copy(
            update={
                "reason": None if event.route.reason is None else redactor.text(event.route.reason)
            }
        ),
    }
    redacted = event.model_copy(update=update)
    return event if redacted == event else redacted


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
