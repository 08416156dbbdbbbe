"""Pydantic models at the edges: the native event schema and API views.

The native schema is what every wire format (native JSON, LiteLLM, ...) is normalised into
before anything is stored.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
    model_validator,
)

from shadowgap.enums import EventStatus, Winner

# Largest values the database columns hold: token counts are PostgreSQL int4. A value past
# them must be a 422 naming the field, not a database error that fails the whole write.
INT4_MAX = 2**31 - 1


# How deeply free-form JSON (request params, metadata, content parts) may nest. Real values
# stay far below it (BFCL's tool schemas, as OpenAI tools in params, nest about 11 levels);
# past it storing the event failed with "Maximum serialization depth exceeded" (a 500).
MAX_NESTING = 64


def _path(parts: list[str | int]) -> str:
    return "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in parts)


def bounded_nesting(value: Any) -> Any:
    """``value`` itself, if its lists and objects nest at most MAX_NESTING levels (counting
    ``value``'s own); else a ValueError naming the path to the first container past the limit.
    Iterative: a recursive walk would itself hit Python's recursion limit."""
    stack: list[tuple[Any, int, list[str | int]]] = [(value, 1, [])]
    while stack:
        item, depth, path = stack.pop()
        if isinstance(item, dict):
            children: Any = item.items()
        elif isinstance(item, list):
            children = enumerate(item)
        else:
            continue
        if depth > MAX_NESTING:
            raise ValueError(
                f"nests deeper than {MAX_NESTING} levels of lists and objects "
                f"(at {_path(path) or 'the top'})"
            )
        stack.extend((child, depth + 1, [*path, key]) for key, child in children)
    return value


# C0 and C1 control characters (CR, LF, TAB, ESC, NEL, ...). A segment attribute is text a
# person reads and part of the segment's URL: one with a CR/LF was stored, and its segment
# could not be reached (the path pattern does not match a newline). NUL never gets here: it
# is replaced by U+FFFD while parsing (shadowgap/ingest/body.py).
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def printable(value: str | None) -> str | None:
    """``value``, unless it holds a control character (a ValueError naming it)."""
    if value is not None and (found := CONTROL_CHARACTERS.search(value)):
        raise ValueError(
            f"contains the control character U+{ord(found.group()):04X}: segment attributes "
            "are shown on pages and in links, so they must be printable text"
        )
    return value


class _Strict(BaseModel):
    # Infinity and NaN would be stored as null (JSON has neither) or break an estimate.
    model_config = ConfigDict(extra="forbid", str_max_length=1_000_000, allow_inf_nan=False)


class _SenderShape(BaseModel):
    """A shape another party defines and extends (OpenAI's chat messages and tool calls).

    Keys it does not list are dropped, not refused: a key OpenAI, Anthropic or LiteLLM adds
    (``annotations``, ``audio``, ``reasoning_content``, ``thinking_blocks``,
    ``provider_specific_fields``, ...) must not cost the sender its batch, and what is dropped
    is never stored, so no text escapes redaction through it. Serialised without the keys that
    were not given (``None``), so a stored message is the message as sent.
    """

    model_config = ConfigDict(extra="ignore", str_max_length=1_000_000, allow_inf_nan=False)

    @model_serializer(mode="wrap")
    def _without_nulls(self, handler: SerializerFunctionWrapHandler) -> Any:
        data = handler(self)
        if not isinstance(data, dict):
            return data
        keep = self._keep_null()
        return {k: v for k, v in data.items() if v is not None or k in keep}

    def _keep_null(self) -> frozenset[str]:
        return frozenset()


class FunctionCall(_SenderShape):
    """A function call as OpenAI sends it: ``arguments`` is the JSON text the model wrote,
    kept as sent (it may not even be JSON; the judges parse it). An object (some gateways
    decode the text) is encoded back to JSON text."""

    name: str = Field(default="", max_length=256)
    arguments: str = ""

    @field_validator("arguments", mode="before")
    @classmethod
    def _as_text(cls, value: Any) -> Any:
        if value is None:
            return ""
        if isinstance(value, dict | list):
            return json.dumps(bounded_nesting(value), ensure_ascii=False)
        return value


class MessageToolCall(_SenderShape):
    """One entry of an assistant message's ``tool_calls``:
    ``{"id", "type": "function", "function": {"name", "arguments"}}``. Other call types
    (``custom``) are kept with their own object."""

    id: str | None = Field(default=None, max_length=256)
    type: str = Field(default="function", max_length=64)
    function: FunctionCall | None = None
    custom: dict[str, Any] | None = None

    @field_validator("custom")
    @classmethod
    def _bounded(cls, value: Any) -> Any:
        return bounded_nesting(value)


class Message(_SenderShape):
    """One chat turn in OpenAI's shape: ``role`` and ``content`` (text or content parts),
    an assistant's ``tool_calls`` (or the legacy ``function_call``) and ``refusal``, a tool
    turn's ``tool_call_id``, a participant's or function's ``name``."""

    role: str = Field(min_length=1, max_length=64)
    # Content may be a string or a list of content parts (OpenAI's multimodal shape).
    content: str | list[Any] | None = None
    name: str | None = Field(default=None, max_length=256)
    tool_calls: list[MessageToolCall] | None = Field(default=None, max_length=256)
    function_call: FunctionCall | None = None
    tool_call_id: str | None = Field(default=None, max_length=256)
    refusal: str | None = None

    def _keep_null(self) -> frozenset[str]:
        # An assistant turn that only calls tools has "content": null in OpenAI's shape.
        return frozenset({"content"})

    @field_validator("content")
    @classmethod
    def _bounded(cls, value: Any) -> Any:
        return bounded_nesting(value)


class AssistantMessage(_SenderShape):
    """An answer given as OpenAI's assistant message (``choices[0].message``). The choice's
    ``finish_reason`` goes in the event's ``finish_reason``; one given here is read too."""

    role: str | None = Field(default=None, max_length=64)
    content: str | list[Any] | None = None
    tool_calls: list[MessageToolCall] | None = Field(default=None, max_length=256)
    function_call: FunctionCall | None = None
    refusal: str | None = None
    finish_reason: str | None = Field(default=None, max_length=64)

    def text(self) -> str | None:
        """The prose: content, else the refusal, else '' for an answer that only calls tools
        (an answer, so it is sampled and judged), else None (no answer)."""
        if self.content is not None:
            return content_text(self.content)
        if self.refusal is not None:
            return self.refusal
        return "" if self.calls() else None

    def calls(self) -> list[dict[str, Any]]:
        """The tool calls in OpenAI's shape; a legacy ``function_call`` as one without id."""
        calls = [call.model_dump(mode="json") for call in self.tool_calls or []]
        if self.function_call is not None:
            calls.append({"type": "function", "function": self.function_call.model_dump()})
        return calls

    @field_validator("content")
    @classmethod
    def _bounded(cls, value: Any) -> Any:
        return bounded_nesting(value)


class RequestPayload(_Strict):
    """What the cheap model was sent. ``request`` may also be the OpenAI request body itself:
    every key but ``messages`` and ``params`` is read as a param (``tools``, ``tool_choice``,
    ``response_format``, ``model``, ...; one also in ``params`` is taken from ``params``)."""

    messages: list[Message] = Field(min_length=1)
    params: dict[str, Any] = Field(
        default_factory=dict,
        description="temperature, max_tokens, tools, tool_choice, ... as sent to the model",
    )

    @field_validator("params")
    @classmethod
    def _bounded(cls, value: dict[str, Any]) -> dict[str, Any]:
        return bounded_nesting(value)  # type: ignore[no-any-return]

    @model_validator(mode="before")
    @classmethod
    def _body_keys_are_params(cls, data: Any) -> Any:
        if not isinstance(data, dict) or not set(data) - {"messages", "params"}:
            return data
        params = data.get("params")
        if params is not None and not isinstance(params, dict):
            return data  # refused by the field's own validation
        folded = {k: v for k, v in data.items() if k not in ("messages", "params")}
        result = {"params": {**folded, **(params or {})}}
        if "messages" in data:
            result["messages"] = data["messages"]
        return result


class Route(_Strict):
    tier: str = Field(min_length=1, max_length=128, description="router tier, e.g. cheap")
    model: str = Field(min_length=1, max_length=256)
    score: float | None = Field(default=None, description="router score when known")
    reason: str | None = Field(default=None, max_length=2000)

    @field_validator("tier", "model")
    @classmethod
    def _printable(cls, value: str) -> str:
        # Segment dimensions (route_tier, route_model) like the attributes below.
        printable(value)
        return value


class Usage(_Strict):
    # OpenAI's usage object as sent: total_tokens and the *_details objects are dropped.
    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)

    prompt_tokens: int = Field(default=0, ge=0, le=INT4_MAX)
    completion_tokens: int = Field(default=0, ge=0, le=INT4_MAX)


class SegmentAttributes(_Strict):
    tenant: str | None = Field(default=None, max_length=256)
    team: str | None = Field(default=None, max_length=256)
    user: str | None = Field(default=None, max_length=256)
    api_key_alias: str | None = Field(default=None, max_length=256)
    tags: list[str] = Field(default_factory=list, max_length=64)
    metadata: dict[str, Any] = Field(default_factory=dict)

    @field_validator("tenant", "team", "user", "api_key_alias")
    @classmethod
    def _printable(cls, value: str | None) -> str | None:
        return printable(value)

    @field_validator("tags")
    @classmethod
    def _printable_tags(cls, value: list[str]) -> list[str]:
        for index, tag in enumerate(value):
            try:
                printable(tag)
            except ValueError as exc:
                raise ValueError(f"tag {index} {exc}") from exc
        return value

    @field_validator("metadata")
    @classmethod
    def _bounded(cls, value: dict[str, Any]) -> dict[str, Any]:
        return bounded_nesting(value)  # type: ignore[no-any-return]


class TrafficEvent(_Strict):
    """One mirrored router request: what was asked, where it went, what came back."""

    event_id: str = Field(min_length=1, max_length=200)
    timestamp: datetime
    request: RequestPayload
    route: Route
    answer: str | AssistantMessage | None = Field(
        default=None,
        description="the text, or the assistant message (content, tool_calls, refusal)",
    )
    finish_reason: str | None = Field(default=None, max_length=64)
    latency_ms: float | None = Field(default=None, ge=0)
    ttft_ms: float | None = Field(default=None, ge=0)
    usage: Usage = Field(default_factory=Usage)
    cost_usd: float | None = Field(default=None, ge=0)
    status: EventStatus = EventStatus.OK
    error: str | None = Field(default=None, max_length=10_000)
    refused: bool = False
    escalated: bool = Field(default=False, description="a cascade escalated this request")
    attributes: SegmentAttributes = Field(default_factory=SegmentAttributes)

    @field_validator("event_id")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        # Only spaces is no id: redeliveries could not be told apart from other events.
        if not value.strip():
            raise ValueError("is blank: an event id needs a character other than whitespace")
        return value

    @field_validator("timestamp")
    @classmethod
    def _aware_utc(cls, value: datetime) -> datetime:
        # Naive timestamps are read as UTC: gateways commonly emit them that way.
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        try:
            return value.astimezone(UTC)
        except OverflowError as exc:  # e.g. 9999-12-31T23:59:59-01:00 is past year 9999 in UTC
            raise ValueError("is out of range once converted to UTC (years 1 to 9999)") from exc

    @model_validator(mode="after")
    def _refusal_is_refused(self) -> TrafficEvent:
        if isinstance(self.answer, AssistantMessage) and self.answer.refusal:
            self.refused = True
        return self

    def answer_text(self) -> str | None:
        """The answer's prose ('' when it only calls tools; None when there is no answer)."""
        if isinstance(self.answer, AssistantMessage):
            return self.answer.text()
        return self.answer

    def answer_tool_calls(self) -> list[dict[str, Any]] | None:
        """The answer's tool calls in OpenAI's shape, None when it makes none."""
        if isinstance(self.answer, AssistantMessage):
            return self.answer.calls() or None
        return None

    def answer_finish_reason(self) -> str | None:
        if self.finish_reason is None and isinstance(self.answer, AssistantMessage):
            return self.answer.finish_reason
        return self.finish_reason

    def prompt_text(self) -> str:
        """The last user message as plain text (what the flagship re-run answers)."""
        return last_user_text(self.request.messages)


def _part(message: Any, name: str) -> Any:
    """A message's role or content, whether it is a stored dict or a :class:`Message`."""
    if isinstance(message, dict):
        return message.get(name)
    return getattr(message, name, None) if isinstance(message, Message) else None


def last_user_text(messages: Sequence[Any] | None, *, only_user: bool = False) -> str:
    """The last user message of a conversation as plain text.

    Without a user message it is the last message of any role: the flagship, the judge and
    the exports need some question to work with. ``only_user`` is for places that show the
    text as what a user asked (the dashboard's examples): no other role's text stands in,
    and a user message without content is passed over for the one before it.

    >>> chat = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yes?"}]
    >>> last_user_text(chat)
    'hi'
    >>> last_user_text([{"role": "system", "content": "be brief"}])
    'be brief'
    >>> last_user_text([{"role": "system", "content": "be brief"}], only_user=True)
    ''
    """
    messages = messages or []
    for message in reversed(messages):
        if _part(message, "role") != "user":
            continue
        content = _part(message, "content")
        if only_user and not isinstance(content, str | list):
            continue
        return content_text(content)
    if only_user or not messages:
        return ""
    return content_text(_part(messages[-1], "content"))


def content_text(content: str | list[Any] | None) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    parts = [p.get("text", "") for p in content if isinstance(p, dict)]
    return "\n".join(part for part in parts if part)


def answer_display(text: str | None, tool_calls: list[Any] | None) -> str | None:
    """An answer as one text for people (alert evidence, exports, the segment page): its
    prose, then each tool call on a line of its own as ``name(arguments)``."""
    if not tool_calls:
        return text
    calls = []
    for call in tool_calls:
        function = (
            (call.get("function") or call.get("custom") or {}) if isinstance(call, dict) else {}
        )
        arguments = function.get("arguments", function.get("input", ""))
        calls.append(f"{function.get('name', '')}({arguments})")
    return "\n".join([text, *calls] if text else calls)


class IngestResult(BaseModel):
    accepted: int
    new: int
    duplicates: int
    sampled: int


class ErrorDetail(BaseModel):
    """What an error is about; more keys may follow (e.g. ``retry_after_seconds``)."""

    model_config = ConfigDict(extra="allow")

    field: str | None = Field(default=None, description="the field, e.g. route.tier or body")
    item: int | None = Field(default=None, description="the item's index in a batch")


class ErrorBody(BaseModel):
    """Every error response: a message and, when known, what it is about."""

    error: str
    detail: ErrorDetail | None = None


class Verdict(BaseModel):
    """A judge's decision on one pair of answers."""

    winner: Winner
    gap_score: float = Field(description="in [-1, 1]: positive when the flagship is better")
    rationale: str = ""
    raw: dict[str, Any] = Field(default_factory=dict)
    judge: str
    judge_model: str | None = None
    prompt_version: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    latency_ms: float = 0.0


class ToolCall(BaseModel):
    """One function call an assistant made: ``arguments`` is the raw text the model sent.

    The text is kept as sent (it may not even be JSON): the judges parse it, and a call whose
    arguments do not parse is a finding, not an ingest error.
    """

    id: str | None = None
    name: str
    arguments: str = ""

    def parsed_arguments(self) -> Any:
        """The arguments as JSON, or raises ``ValueError`` (``json.JSONDecodeError``)."""
        return json.loads(self.arguments) if self.arguments.strip() else {}


class Answer(BaseModel):
    """What a model answered: text, and/or tool calls, and why it stopped.

    Independent of storage: built from a plain string (old rows, prose answers) or from an
    OpenAI assistant message (``content``, ``tool_calls``, legacy ``function_call``,
    ``refusal``). :attr:`text` is the prose fallback every text judge reads.
    """

    content: str | None = None
    tool_calls: list[ToolCall] = Field(default_factory=list)
    refusal: str | None = None
    finish_reason: str | None = None

    @property
    def text(self) -> str:
        """The prose of the answer (the refusal when there is no content)."""
        if self.content:
            return self.content
        return self.refusal or ""

    @property
    def has_tool_calls(self) -> bool:
        return bool(self.tool_calls)

    @classmethod
    def from_text(cls, text: str | None, finish_reason: str | None = None) -> Answer:
        return cls(content=text, finish_reason=finish_reason)

    @classmethod
    def from_openai_message(
        cls, message: dict[str, Any], finish_reason: str | None = None
    ) -> Answer:
        """From an OpenAI assistant message dict (chat completions ``choices[i].message``).

        Content parts are joined as text; a legacy ``function_call`` becomes one tool call
        without an id; arguments sent as an object (some gateways decode them) are re-encoded.
        """
        calls = [
            _tool_call(call.get("function") or {}, call.get("id"))
            for call in message.get("tool_calls") or []
            if isinstance(call, dict)
        ]
        legacy = message.get("function_call")
        if isinstance(legacy, dict):
            calls.append(_tool_call(legacy, None))
        content = message.get("content")
        return cls(
            content=content_text(content) if content is not None else None,
            tool_calls=calls,
            refusal=message.get("refusal"),
            finish_reason=finish_reason or message.get("finish_reason"),
        )

    @classmethod
    def coerce(cls, value: Answer | str | dict[str, Any] | None) -> Answer:
        """An answer from whatever a caller holds: an Answer, a string or a message dict."""
        if isinstance(value, Answer):
            return value
        if isinstance(value, dict):
            return cls.from_openai_message(value)
        return cls.from_text(value)


def _tool_call(function: dict[str, Any], call_id: Any) -> ToolCall:
    arguments = function.get("arguments")
    if arguments is None:
        arguments = ""
    elif not isinstance(arguments, str):
        arguments = json.dumps(arguments)
    return ToolCall(
        id=str(call_id) if call_id is not None else None,
        name=str(function.get("name") or ""),
        arguments=arguments,
    )
