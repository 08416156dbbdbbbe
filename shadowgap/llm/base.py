"""The one interface every flagship (and LLM judge) client implements.

Clients are synchronous: they run inside Celery worker processes, one job at a time per
worker slot, so an async API would buy nothing but an event loop per task.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from shadowgap.errors import FlagshipError
from shadowgap.schemas import content_text

# Requests in flight at once when the caller does not say (the cheap role has no setting).
DEFAULT_MAX_CONCURRENCY = 4


@dataclass(frozen=True, slots=True)
class Completion:
    """One chat completion, with what it cost to get it."""

    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_ms: float = 0.0
    # Requests sent, retries included: 1 means the first try succeeded.
    attempts: int = 1
    finish_reason: str | None = None


class FlagshipCallError(FlagshipError):
    """A :class:`FlagshipError` that also says how many requests were sent.

    The shadow stage stores ``attempts`` on the failed run, so exhausted retries stay visible.
    """

    def __init__(
        self, message: str, *, transient: bool, retry_after: float | None = None, attempts: int = 1
    ) -> None:
        super().__init__(message, transient=transient, retry_after=retry_after)
        self.attempts = attempts


def attempts_of(error: FlagshipError) -> int:
    """Requests sent before ``error`` was raised (1 when the client did not count)."""
    return getattr(error, "attempts", 1)


@runtime_checkable
class ChatClient(Protocol):
    """A chat model: OpenAI-compatible endpoint, in-process llama.cpp, or recorded answers."""

    name: str
    model: str

    def complete(
        self, messages: list[dict[str, Any]], *, max_tokens: int, temperature: float = 0.0
    ) -> Completion:
        """Answer the conversation; raises :class:`shadowgap.errors.FlagshipError` on failure."""
        ...


_SPACES = re.compile(r"\s+")


def normalise_prompt(text: str) -> str:
    """NFKC, collapsed whitespace, stripped: the same question typed twice hashes the same."""
    return _SPACES.sub(" ", unicodedata.normalize("NFKC", text)).strip()


def prompt_key(text: str) -> str:
    """sha256 hex of the normalised prompt text: the key of recorded answers."""
    return hashlib.sha256(normalise_prompt(text).encode("utf-8")).hexdigest()


def plain_messages(messages: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Role and text only: multimodal content parts are flattened to their text parts."""
    return [
        {"role": str(m.get("role", "user")), "content": content_text(m.get("content"))}
        for m in messages
    ]
