"""The one interface every flagship (and LLM judge) client implements.

Clients are synchronous: they run inside Celery worker processes, one job at a time per
worker slot, so an async API would buy nothing but an event loop per task.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Mapping
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
    # The answer's tool calls in OpenAI's shape ({"id", "type", "function": {"name",
    # "arguments"}}), None when it makes none; ``text`` is then its content ('' if none).
    tool_calls: list[dict[str, Any]] | None = None


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
        self,
        messages: list[dict[str, Any]],
        *,
        max_tokens: int,
        temperature: float = 0.0,
        options: Mapping[str, Any] | None = None,
    ) -> Completion:
        """Answer the conversation; raises :class:`shadowgap.errors.FlagshipError` on failure.

        ``options`` are the request's other parameters in OpenAI's names, as
        :func:`forwarded_params` keeps them (tools, tool_choice, response_format, stop, ...);
        a client sends those its model takes (see each client).
        """
        ...


# The request parameters a flagship re-run sends as the cheap model got them (OpenAI chat
# completions names), besides the messages, max_tokens and temperature, which are passed on
# their own: everything that shapes what the answer is. docs/how-it-works.md lists them with
# the parameters that are dropped and why.
FORWARDED_PARAMS = frozenset(
    {
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "functions",
        "function_call",
        "response_format",
        "stop",
        "seed",
        "top_p",
        "frequency_penalty",
        "presence_penalty",
        "logit_bias",
        "reasoning_effort",
        "verbosity",
    }
)
# Dropped, each for a reason (any other key is dropped too: it is a provider's or a gateway's
# own, e.g. LiteLLM's mock_response or Anthropic's top_k, which an OpenAI-compatible flagship
# refuses or ignores).
DROPPED_PARAMS = {
    "model": "the flagship is its own model",
    "stream": "the re-run collects the whole answer; streaming changes the transport only",
    "stream_options": "as stream",
    "n": "one answer is compared; n > 1 multiplies the flagship's cost",
    "user": "the sender's end-user id is not sent to another provider",
    "safety_identifier": "as user",
    "metadata": "the sender's own labels, stored on the provider's side",
    "store": "a shadow call must not be stored in the sender's provider account",
    "service_tier": "the sender's billing tier, not a property of the answer",
    "prompt_cache_key": "the sender's cache routing, not a property of the answer",
    "logprobs": "log probabilities are not compared",
    "top_logprobs": "as logprobs",
    "modalities": "audio answers are not judged: the flagship answers in text",
    "audio": "as modalities",
    "prediction": "a latency optimisation; the answer does not depend on it",
}


def forwarded_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters of ``params`` a re-run forwards (:data:`FORWARDED_PARAMS`), non-null."""
    return {k: v for k, v in params.items() if k in FORWARDED_PARAMS and v is not None}


_SPACES = re.compile(r"\s+")


def normalise_prompt(text: str) -> str:
    """NFKC, collapsed whitespace, stripped: the same question typed twice hashes the same."""
    return _SPACES.sub(" ", unicodedata.normalize("NFKC", text)).strip()


def prompt_key(text: str) -> str:
    """sha256 hex of the normalised prompt text: the key of recorded answers."""
    return hashlib.sha256(normalise_prompt(text).encode("utf-8")).hexdigest()


# The keys of an OpenAI chat message a flagship is sent (shadowgap.schemas.Message keeps
# these and nothing else).
MESSAGE_KEYS = ("role", "content", "name", "tool_calls", "function_call", "tool_call_id", "refusal")


def wire_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The stored messages as sent: content parts (images) and tool calls kept, keys other
    than OpenAI's chat message keys dropped, and null values left out (an assistant turn
    that only calls tools keeps ``"content": null``, as OpenAI sends it)."""
    wired: list[dict[str, Any]] = []
    for message in messages:
        turn = {k: message[k] for k in MESSAGE_KEYS if message.get(k) is not None}
        if "content" in message:
            turn["content"] = message["content"]
        wired.append(turn)
    return wired


def plain_messages(messages: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Role and text only: multimodal content parts are flattened to their text parts."""
    return [
        {"role": str(m.get("role", "user")), "content": content_text(m.get("content"))}
        for m in messages
    ]
