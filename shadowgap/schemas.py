"""Pydantic models at the edges: the native event schema and API views.

The native schema is what every wire format (native JSON, LiteLLM, ...) is normalised into
before anything is stored.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

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


class Message(_Strict):
    role: str = Field(min_length=1, max_length=64)
    # Content may be a string or a list of content parts (OpenAI's multimodal shape).
    content: str | list[Any] | None = None

    @field_validator("content")
    @classmethod
    def _bounded(cls, value: Any) -> Any:
        return bounded_nesting(value)


class RequestPayload(_Strict):
    messages: list[Message] = Field(min_length=1)
    params: dict[str, Any] = Field(
        default_factory=dict, description="temperature, max_tokens, ... as sent to the model"
    )

    @field_validator("params")
    @classmethod
    def _bounded(cls, value: dict[str, Any]) -> dict[str, Any]:
        return bounded_nesting(value)  # type: ignore[no-any-return]


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
