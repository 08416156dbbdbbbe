"""Any OpenAI-compatible chat endpoint (OpenAI, vLLM, llama.cpp server) through ``openai``.

Retries are done here rather than by the SDK (``max_retries=0``) so that every attempt is
counted, Retry-After is honoured as a floor under full-jitter backoff, and the concurrency and
rate limits apply to each attempt, not just the first.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import openai
from pydantic import SecretStr

from shadowgap.llm.base import (
    DEFAULT_MAX_CONCURRENCY,
    Completion,
    FlagshipCallError,
    forwarded_params,
    wire_messages,
)
from shadowgap.llm.limits import TokenBucket, backoff_delay, parse_retry_after

logger = logging.getLogger(__name__)

# The SDK refuses an empty key; local servers (llama.cpp, vLLM) ignore whatever is sent.
_PLACEHOLDER_KEY = "sk-no-key-required"


def _is_transient_status(status: int) -> bool:
    # 408 request timeout and 409 (OpenAI's "try again" lock conflict) clear up by themselves.
    return status in (408, 409, 429) or status >= 500


class OpenAICompatClient:
    """Chat completions against ``base_url`` with retries, a semaphore and a token bucket."""

    name = "openai"

    def __init__(
        self,
        *,
        base_url: str | None,
        api_key: SecretStr | None,
        model: str,
        timeout: float = 60.0,
        max_retries: int = 5,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
        requests_per_second: float | None = None,
        backoff_base: float = 0.5,
        backoff_cap: float = 20.0,
        max_retry_after: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.model = model
        self.base_url = base_url
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        # A Retry-After longer than this is handed to the caller (a Celery retry with a
        # countdown) instead of blocking a worker slot for minutes.
        self.max_retry_after = max_retry_after
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._semaphore = threading.BoundedSemaphore(max_concurrency)
        self._bucket = TokenBucket(requests_per_second) if requests_per_second else None
        key = api_key.get_secret_value() if api_key is not None else _PLACEHOLDER_KEY
        self._client = openai.OpenAI(
            base_url=base_url, api_key=key or _PLACEHOLDER_KEY, timeout=timeout, max_retries=0
        )

    def __repr__(self) -> str:
        # Never includes the key: reprs end up in logs and tracebacks.
        return f"OpenAICompatClient(base_url={self.base_url!r}, model={self.model!r})"

    def complete(
        self,
        messages: list[dict[str, Any]],
        *,
        max_tokens: int,
        temperature: float = 0.0,
        options: Mapping[str, Any] | None = None,
    ) -> Completion:
        attempt = 0
        while True:
            attempt += 1
            # Latency is the successful attempt's own: backoff waits are not the model's speed.
            started = time.perf_counter()
            try:
                response = self._send(
                    messages, max_tokens=max_tokens, temperature=temperature, options=options
                )
            except openai.APIStatusError as exc:
                status = exc.status_code
                retry_after = parse_retry_after(exc.response.headers)
                reason = f"flagship returned HTTP {status}: {_short(exc.message)}"
                if not _is_transient_status(status):
                    raise FlagshipCallError(reason, transient=False, attempts=attempt) from exc
            except openai.APITimeoutError:
                # Checked before APIConnectionError, its base class.
                retry_after, reason = None, "flagship request timed out"
            except openai.APIConnectionError as exc:
                retry_after, reason = None, f"cannot reach the flagship: {_short(str(exc))}"
            except openai.APIResponseValidationError as exc:
                raise FlagshipCallError(
                    f"flagship response is not a chat completion: {_short(str(exc))}",
                    transient=False,
                    attempts=attempt,
                ) from exc
            else:
                return _completion(response, started, attempt)
            self._wait_or_give_up(attempt, reason, retry_after)

    def _send(
        self,
        messages: list[dict[str, Any]],
        *,
        max_tokens: int,
        temperature: float,
        options: Mapping[str, Any] | None,
    ) -> Any:
        params = forwarded_params(options or {})
        # The budget goes under the name the request used: reasoning models refuse max_tokens.
        budget = "max_completion_tokens" if (options or {}).get("max_completion_tokens") else None
        params[budget or "max_tokens"] = max_tokens
        with self._semaphore:
            if self._bucket is not None:
                self._bucket.acquire()
            return self._client.chat.completions.create(
                model=self.model,
                messages=wire_messages(messages),  # type: ignore[arg-type]
                temperature=temperature,
                **params,
            )

    def _wait_or_give_up(self, attempt: int, reason: str, retry_after: float | None) -> None:
        """Sleep before the next attempt, or raise a transient error when retries are spent."""
        if attempt > self.max_retries:
            raise FlagshipCallError(
                f"{reason} (gave up after {attempt} attempts)",
                transient=True,
                retry_after=retry_after,
                attempts=attempt,
            )
        if retry_after is not None and retry_after > self.max_retry_after:
            raise FlagshipCallError(
                f"{reason} (Retry-After {retry_after:.0f}s exceeds the in-process wait)",
                transient=True,
                retry_after=retry_after,
                attempts=attempt,
            )
        delay = backoff_delay(
            attempt,
            base=self.backoff_base,
            cap=self.backoff_cap,
            retry_after=retry_after,
            rng=self._rng,
        )
        logger.warning(
            "flagship attempt failed, retrying",
            extra={"attempt": attempt, "reason": reason, "delay_s": round(delay, 3)},
        )
        self._sleep(delay)


def _short(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


def _completion(response: Any, started: float, attempts: int) -> Completion:
    if not response.choices:
        raise FlagshipCallError("flagship returned no choices", transient=False, attempts=attempts)
    choice = response.choices[0]
    usage = response.usage
    message = choice.message
    calls = [call.model_dump(mode="json", exclude_none=True) for call in message.tool_calls or []]
    if message.function_call is not None:
        calls.append({"type": "function", "function": message.function_call.model_dump()})
    return Completion(
        text=message.content or "",
        tool_calls=calls or None,
        prompt_tokens=(usage.prompt_tokens or 0) if usage else 0,
        completion_tokens=(usage.completion_tokens or 0) if usage else 0,
        latency_ms=(time.perf_counter() - started) * 1000.0,
        attempts=attempts,
        finish_reason=choice.finish_reason,
    )
