"""Pydantic models at the edges: the native event schema and API views.

The native schema is what every wire format (native JSON, LiteLLM, ...) is normalised into
before anything is stored.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

# Largest values the database columns hold: token counts are PostgreSQL int4. A value past
# them must be a 422 naming the field, not a database error that fails the whole write.
INT4_MAX = 2**31 - 1


class _Strict(BaseModel):
    # Infinity and NaN would be stored as null (JSON has neither) or break an estimate.
    model_config = ConfigDict(extra="forbid", str_max_length=1_000_000, allow_inf_nan=False)


class Message(_Strict):
    role: str = Field(min_length=1, max_length=64)
    # Content may be a string or a list of content parts (OpenAI's multimodal shape).
    content: str | list[Any] | None = None


class RequestPayload(_Strict):
    messages: list[Message] = Field(min_length=1)
    params: dict[str, Any] = Field(
        default_factory=dict, description="temperature, max_tokens, ... as sent to the model"
    )


class Route(_Strict):
    tier: str = Field(min_length=1, max_length=128, description="router tier, e.g. cheap")
    model: str = Field(min_length=1, max_length=256)
    score: float | None = Field(default=None, description="router score when known")
    reason: str | None = Field(default=None, max_length=2000)


class Usage(_Strict):
    prompt_tokens: int = Field(default=0, ge=0, le=INT4_MAX)
    completion_tokens: int = Field(default=0, ge=0, le=INT4_MAX)


class SegmentAttributes(_Strict):
    tenant: str | None = Field(default=None, max_length=256)
    team: str | None = Field(default=None, max_length=256)
    user: str | None = Field(default=None, max_length=256)
    api_key_alias: str | None = Field(default=None, max_length=256)
    tags: list[str] = Field(default_factory=list, max_length=64)
    metadata: dict[str, Any] = Field(default_factory=dict)


class TrafficEvent(_Strict):
    """One mirrored router request: what was asked, where it went, what came back."""

    event_id: str = Field(min_length=1, max_length=200)
    timestamp: datetime
    request: RequestPayload
    route: Route
    answer: str | None = None
    latency_ms: float | None = Field(default=None, ge=0)
    ttft_ms: float | None = Field(default=None, ge=0)
    usage: Usage = Field(default_factory=Usage)
    cost_usd: float | None = Field(default=None, ge=0)
    status: Literal["ok", "error"] = "ok"
    error: str | None = Field(default=None, max_length=10_000)
    refused: bool = False
    escalated: bool = Field(default=False, description="a cascade escalated this request")
    attributes: SegmentAttributes = Field(default_factory=SegmentAttributes)

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

    def prompt_text(self) -> str:
        """The last user message as plain text (what the flagship re-run answers)."""
        for message in reversed(self.request.messages):
            if message.role == "user":
                return content_text(message.content)
        return content_text(self.request.messages[-1].content)


def content_text(content: str | list[Any] | None) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    parts = [p.get("text", "") for p in content if isinstance(p, dict)]
    return "\n".join(part for part in parts if part)


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

    winner: Literal["flagship", "cheap", "tie"]
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
