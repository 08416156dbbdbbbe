"""Redacting a validated event before it is stored: message contents, tool-call arguments,
refusals, the answer (its text and its tool calls), error and the router's reason. Segment
attributes (tenant, user, tags) are identifiers the deployment chose to send for segmentation
and purges, and names (of functions, tools, participants) and call ids are identifiers too, so
they are kept as sent. Tool arguments are redacted as text: a value replaced by a placeholder
leaves the JSON around it as it was."""

from __future__ import annotations

from typing import Any, TypeVar

from shadowgap.privacy.redaction import Redactor
from shadowgap.schemas import (
    AssistantMessage,
    FunctionCall,
    Message,
    MessageToolCall,
    TrafficEvent,
)

_WithCalls = TypeVar("_WithCalls", Message, AssistantMessage)


def _function(call: FunctionCall | None, redactor: Redactor) -> FunctionCall | None:
    if call is None or not call.arguments:
        return call
    clean = redactor.text(call.arguments)
    return call if clean == call.arguments else call.model_copy(update={"arguments": clean})


def _tool_call(call: MessageToolCall, redactor: Redactor) -> MessageToolCall:
    update: dict[str, Any] = {}
    function = _function(call.function, redactor)
    if function is not call.function:
        update["function"] = function
    if call.custom is not None and (custom := redactor.value(call.custom)) != call.custom:
        update["custom"] = custom
    return call.model_copy(update=update) if update else call


def _with_calls(message: _WithCalls, redactor: Redactor) -> _WithCalls:
    """The message with its content, refusal and tool-call arguments redacted (the same
    object when nothing changed)."""
    update: dict[str, Any] = {}
    content = redactor.value(message.content)
    if content != message.content:
        update["content"] = content
    if message.refusal is not None and (refusal := redactor.text(message.refusal)) != (
        message.refusal
    ):
        update["refusal"] = refusal
    if message.tool_calls:
        calls = [_tool_call(call, redactor) for call in message.tool_calls]
        if any(new is not old for new, old in zip(calls, message.tool_calls, strict=True)):
            update["tool_calls"] = calls
    function = _function(message.function_call, redactor)
    if function is not message.function_call:
        update["function_call"] = function
    return message.model_copy(update=update) if update else message


def redact_event(event: TrafficEvent, redactor: Redactor) -> TrafficEvent:
    """A copy with every free-text field redacted (the same object when nothing changed)."""
    if not redactor.enabled:
        return event
    messages = [_with_calls(message, redactor) for message in event.request.messages]
    update: dict[str, Any] = {}
    if any(new is not old for new, old in zip(messages, event.request.messages, strict=True)):
        update["request"] = event.request.model_copy(update={"messages": messages})
    if isinstance(event.answer, AssistantMessage):
        answer = _with_calls(event.answer, redactor)
        if answer is not event.answer:
            update["answer"] = answer
    elif event.answer is not None and (clean := redactor.text(event.answer)) != event.answer:
        update["answer"] = clean
    if event.error is not None and (clean := redactor.text(event.error)) != event.error:
        update["error"] = clean
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
