"""Builds the flagship client (and the reverse shadow's cheap client) the settings name, once
per worker process."""

from __future__ import annotations

import threading
from pathlib import Path

from service.config import Settings
from service.errors import FlagshipNotConfigured
from service.llm.base import ChatClient

_CLIENTS: dict[tuple[object, ...], ChatClient] = {}
_LOCK = threading.Lock()


def _cache_key(settings: Settings) -> tuple[object, ...]:
    # Everything that changes the client; the API key only as "set or not" so that the
    # secret never sits in a plain-text cache key.
    return (
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


def build_flagship_client(settings: Settings) -> ChatClient:
    """A new client for ``settings.flagship_client`` (uncached: prefer the cached one).

    Raises :class:`FlagshipNotConfigured` when :func:`flagship_problem` finds one.
    """
    problem = flagship_problem(settings)
    if problem is not None:
        raise FlagshipNotConfigured(problem)
    if settings.flagship_client == "openai":
        from service.llm.openai_compat import OpenAICompatClient

        return OpenAICompatClient(
            base_url=settings.flagship_base_url,
            api_key=settings.flagship_api_key,
            model=settings.flagship_model,
            timeout=settings.flagship_timeout_seconds,
            max_retries=settings.flagship_max_retries,
            max_concurrency=settings.flagship_max_concurrency,
            requests_per_second=settings.flagship_requests_per_second,
        )
    if settings.flagship_client == "llama-cpp":
        from service.llm.llama_cpp_client import LlamaCppClient

        return LlamaCppClient(settings.llama_model_path)
    from service.llm.recorded import RecordedClient

    assert settings.recorded_answers_path  # checked by flagship_problem
    return RecordedClient(Path(settings.recorded_answers_path), model=settings.flagship_model)


def make_flagship_client(settings: Settings) -> ChatClient:
    """The process-wide client for these settings: models are loaded once per worker."""
    key = _cache_key(settings)
    with _LOCK:
        client = _CLIENTS.get(key)
        if client is None:
            client = _CLIENTS[key] = build_flagship_client(settings)
        return client


def _cheap_cache_key(settings: Settings) -> tuple[object, ...]:
    return (
        "cheap",
        settings.cheap_client,
        settings.cheap_base_url,
        settings.cheap_api_key is not None,
        settings.cheap_model,
        settings.cheap_timeout_seconds,
        settings.cheap_max_retries,
        settings.cheap_recorded_answers_path,
        settings.llama_model_path,
    )


def build_cheap_client(settings: Settings) -> ChatClient:
    """A new client for the cheap model the reverse shadow re-runs requests on."""
    if settings.cheap_client == "openai":
        if not settings.cheap_base_url and settings.cheap_api_key is None:
            raise ValueError("the openai cheap client needs cheap_base_url or cheap_api_key")
        from service.llm.openai_compat import OpenAICompatClient

        return OpenAICompatClient(
            base_url=settings.cheap_base_url,
            api_key=settings.cheap_api_key,
            model=settings.cheap_model,
            timeout=settings.cheap_timeout_seconds,
            max_retries=settings.cheap_max_retries,
        )
    if settings.cheap_client == "llama-cpp":
        from service.llm.llama_cpp_client import LlamaCppClient

        return LlamaCppClient(settings.llama_model_path)
    from service.llm.recorded import GSM8K_CHEAP, RecordedClient

    if settings.cheap_recorded_answers_path:
        return RecordedClient(settings.cheap_recorded_answers_path, model=settings.cheap_model)
    return RecordedClient(model=settings.cheap_model, answer_column=GSM8K_CHEAP)


def make_cheap_client(settings: Settings) -> ChatClient:
    """The process-wide cheap client for these settings."""
    key = _cheap_cache_key(settings)
    with _LOCK:
        client = _CLIENTS.get(key)
        if client is None:
            client = _CLIENTS[key] = build_cheap_client(settings)
        return client


def reset_flagship_clients() -> None:
    """Forget cached clients (tests switch settings). Loaded llama models stay loaded."""
    with _LOCK:
        _CLIENTS.clear()
