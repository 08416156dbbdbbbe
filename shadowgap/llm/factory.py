"""Builds the flagship client (and the reverse shadow's cheap client) the settings name, once
per worker process."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import astuple, dataclass
from pathlib import Path

from pydantic import SecretStr

from shadowgap.config import Settings
from shadowgap.errors import FlagshipNotConfigured
from shadowgap.llm.base import DEFAULT_MAX_CONCURRENCY, ChatClient

_CLIENTS: dict[tuple[object, ...], ChatClient] = {}
_LOCK = threading.Lock()


@dataclass(frozen=True)
class _Endpoint:
    """What one role's client (the flagship, or the reverse shadow's cheap model) is built
    from. Its fields are the cache key, so the API key enters only as "set or not": the
    secret never sits in a plain-text key (it is read from the settings when building)."""

    role: str
    kind: str | None
    base_url: str | None
    has_api_key: bool
    model: str
    timeout: float
    max_retries: int
    max_concurrency: int
    requests_per_second: float | None
    recorded_path: str | None
    llama_model_path: str | None


def _flagship_endpoint(settings: Settings) -> _Endpoint:
    return _Endpoint(
        "flagship",
        settings.flagship_client,
        settings.flagship_base_url,
        settings.flagship_api_key is not None,
        settings.flagship_model,
        settings.flagship_timeout_seconds,
        settings.flagship_max_retries,
        settings.flagship_max_concurrency,
        settings.flagship_requests_per_second,
        settings.recorded_answers_path,
        settings.llama_model_path,
    )


def _cheap_endpoint(settings: Settings) -> _Endpoint:
    return _Endpoint(
        "cheap",
        settings.cheap_client,
        settings.cheap_base_url,
        settings.cheap_api_key is not None,
        settings.cheap_model,
        settings.cheap_timeout_seconds,
        settings.cheap_max_retries,
        DEFAULT_MAX_CONCURRENCY,
        None,
        settings.cheap_recorded_answers_path,
        settings.llama_model_path,
    )


def flagship_problem(settings: Settings) -> str | None:
    """Why the settings name no usable flagship, or None when they do.

    There is deliberately no default flagship: a production install that forgot to configure
    one must stop shadowing (and say so), not re-run traffic on some demo stand-in.
    """
    if settings.flagship_client is None:
        return (
            "no flagship is configured: set SHADOWGAP_FLAGSHIP_CLIENT to openai (with "
            "SHADOWGAP_FLAGSHIP_BASE_URL and/or SHADOWGAP_FLAGSHIP_API_KEY), llama-cpp or "
            "recorded (with SHADOWGAP_RECORDED_ANSWERS_PATH)"
        )
    if (
        settings.flagship_client == "openai"
        and not settings.flagship_base_url
        and settings.flagship_api_key is None
    ):
        return "the openai flagship needs SHADOWGAP_FLAGSHIP_BASE_URL or SHADOWGAP_FLAGSHIP_API_KEY"
    if settings.flagship_client == "recorded" and not settings.recorded_answers_path:
        return "the recorded flagship needs SHADOWGAP_RECORDED_ANSWERS_PATH"
    return None


def _build(endpoint: _Endpoint, api_key: SecretStr | None) -> ChatClient:
    if endpoint.kind == "openai":
        from shadowgap.llm.openai_compat import OpenAICompatClient

        return OpenAICompatClient(
            base_url=endpoint.base_url,
            api_key=api_key,
            model=endpoint.model,
            timeout=endpoint.timeout,
            max_retries=endpoint.max_retries,
            max_concurrency=endpoint.max_concurrency,
            requests_per_second=endpoint.requests_per_second,
        )
    if endpoint.kind == "llama-cpp":
        from shadowgap.llm.llama_cpp_client import LlamaCppClient

        return LlamaCppClient(endpoint.llama_model_path)
    from shadowgap.llm.recorded import GSM8K_CHEAP, RecordedClient

    if endpoint.recorded_path:
        return RecordedClient(Path(endpoint.recorded_path), model=endpoint.model)
    # Only the cheap role gets here (flagship_problem requires a path): the demo's cheap answers.
    return RecordedClient(model=endpoint.model, answer_column=GSM8K_CHEAP)


def _cached(endpoint: _Endpoint, build: Callable[[], ChatClient]) -> ChatClient:
    key = astuple(endpoint)
    with _LOCK:
        client = _CLIENTS.get(key)
        if client is None:
            client = _CLIENTS[key] = build()
        return client


def build_flagship_client(settings: Settings) -> ChatClient:
    """A new client for ``settings.flagship_client`` (uncached: prefer the cached one).

    Raises :class:`FlagshipNotConfigured` when :func:`flagship_problem` finds one.
    """
    problem = flagship_problem(settings)
    if problem is not None:
        raise FlagshipNotConfigured(problem)
    return _build(_flagship_endpoint(settings), settings.flagship_api_key)


def make_flagship_client(settings: Settings) -> ChatClient:
    """The process-wide client for these settings: models are loaded once per worker."""
    return _cached(_flagship_endpoint(settings), lambda: build_flagship_client(settings))


def cheap_problem(settings: Settings) -> str | None:
    """Why the settings name no usable cheap model, or None when they do.

    No default, as for the flagship: a production install that left it unset ran the reverse
    shadow on the demo's recorded answers, read relative to its working directory, and every
    re-run failed. Until a cheap model is configured the reverse shadow is off.
    """
    if settings.cheap_client is None:
        return (
            "no cheap model is configured, so the reverse shadow is off: set "
            "SHADOWGAP_CHEAP_CLIENT to openai (with SHADOWGAP_CHEAP_BASE_URL and/or "
            "SHADOWGAP_CHEAP_API_KEY), llama-cpp or recorded"
        )
    if (
        settings.cheap_client == "openai"
        and not settings.cheap_base_url
        and settings.cheap_api_key is None
    ):
        return "the openai cheap model needs SHADOWGAP_CHEAP_BASE_URL or SHADOWGAP_CHEAP_API_KEY"
    if settings.cheap_client == "recorded" and not settings.cheap_recorded_answers_path:
        from shadowgap.llm.recorded import DEFAULT_DATASET

        if not DEFAULT_DATASET.is_file():
            return (
                "the recorded cheap model needs SHADOWGAP_CHEAP_RECORDED_ANSWERS_PATH (the "
                f"demo's answers, {DEFAULT_DATASET}, are not in this directory)"
            )
    return None


def reverse_shadow_problem(settings: Settings) -> str | None:
    """Why the reverse shadow is off, or None when it runs."""
    if settings.reverse_shadow_rate <= 0:
        return "the reverse shadow is off (SHADOWGAP_REVERSE_SHADOW_RATE is 0)"
    return cheap_problem(settings)


def build_cheap_client(settings: Settings) -> ChatClient:
    """A new client for the cheap model the reverse shadow re-runs requests on."""
    problem = cheap_problem(settings)
    if problem is not None:
        raise ValueError(problem)
    return _build(_cheap_endpoint(settings), settings.cheap_api_key)


def make_cheap_client(settings: Settings) -> ChatClient:
    """The process-wide cheap client for these settings."""
    return _cached(_cheap_endpoint(settings), lambda: build_cheap_client(settings))


def reset_flagship_clients() -> None:
    """Forget cached clients (tests switch settings). Loaded llama models stay loaded."""
    with _LOCK:
        _CLIENTS.clear()
