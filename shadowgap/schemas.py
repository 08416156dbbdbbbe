"""Pydantic models at the edges: the native event schema and API views.

The native schema is what every wire format (native JSON, LiteLLM, ...) is normalised into
before anything is stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shadowgap.enums import EventStatus, Winner

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
    status: EventStatus = EventStatus.OK
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
