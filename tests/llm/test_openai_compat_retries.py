"""The OpenAI-compatible client against a real local HTTP server playing a flaky flagship."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from pydantic import SecretStr

from shadowgap.errors import FlagshipError
from shadowgap.llm.base import attempts_of
from shadowgap.llm.limits import TokenBucket, backoff_delay, parse_retry_after
from shadowgap.llm.openai_compat import OpenAICompatClient

Reply = tuple[int, dict[str, str], dict[str, object] | None]


def chat_completion(text: str) -> dict[str, object]:
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": "flagship",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 11, "completion_tokens": 2, "total_tokens": 13},
    }


class FlagshipServer:
    """http.server in a thread; ``script(n)`` gives the reply to the n-th request (0-based)."""

    def __init__(self, script: Callable[[int], Reply], delay: float = 0.0) -> None:
        self.requests: list[dict[str, object]] = []
        self.headers: list[dict[str, str]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with lock:
                    index = len(server.requests)
                    server.requests.append(body)
                    server.headers.append({k.lower(): v for k, v in self.headers.items()})
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    if delay:
                        time.sleep(delay)
                    status, headers, payload = script(index)
                    data = json.dumps(payload or {"error": {"message": "boom"}}).encode()
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client timed out and hung up: expected in the timeout test
                finally:
                    with lock:
                        server.in_flight -= 1

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def serve() -> Iterator[Callable[..., FlagshipServer]]:
    servers: list[FlagshipServer] = []

    def start(script: Callable[[int], Reply], delay: float = 0.0) -> FlagshipServer:
        server = FlagshipServer(script, delay)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


def make_client(url: str, **overrides: object) -> OpenAICompatClient:
    options: dict[str, object] = {
        "base_url": url,
        "api_key": SecretStr("sk-test-secret"),
        "model": "flagship",
        "timeout": 5.0,
        "max_retries": 3,
        "backoff_base": 0.01,
        "backoff_cap": 0.05,
    }
    options.update(overrides)
    return OpenAICompatClient(**options)  # type: ignore[arg-type]


MESSAGES = [{"role": "user", "content": "What is 6 x 7?"}]


def test_429_then_200_is_retried_and_counted(serve: Callable[..., FlagshipServer]) -> None:
    def script(n: int) -> Reply:
        if n == 0:
            return 429, {"Retry-After": "0"}, {"error": {"message": "rate limited"}}
        return 200, {}, chat_completion("42")

    server = serve(script)
    completion = make_client(server.url).complete(MESSAGES, max_tokens=8)
    assert completion.text == "42"
    assert completion.attempts == 2
    assert (completion.prompt_tokens, completion.completion_tokens) == (11, 2)
    assert len(server.requests) == 2
    assert server.requests[0]["max_tokens"] == 8
    assert server.requests[0]["messages"] == MESSAGES
    # The key goes in the Authorization header, nowhere else.
    assert server.headers[0]["authorization"] == "Bearer sk-test-secret"


def test_503_forever_raises_transient_after_max_retries(
    serve: Callable[..., FlagshipServer],
) -> None:
    server = serve(lambda n: (503, {}, {"error": {"message": "overloaded"}}))
    client = make_client(server.url, max_retries=2)
    with pytest.raises(FlagshipError) as caught:
        client.complete(MESSAGES, max_tokens=8)
    assert caught.value.transient is True
    assert attempts_of(caught.value) == 3
    assert len(server.requests) == 3
    assert "503" in caught.value.message
    assert "sk-test-secret" not in caught.value.message
    assert "sk-test-secret" not in repr(client)


def test_4xx_is_not_retried(serve: Callable[..., FlagshipServer]) -> None:
    server = serve(lambda n: (400, {}, {"error": {"message": "bad model"}}))
    with pytest.raises(FlagshipError) as caught:
        make_client(server.url).complete(MESSAGES, max_tokens=8)
    assert caught.value.transient is False
    assert attempts_of(caught.value) == 1
    assert len(server.requests) == 1


def test_retry_after_is_a_floor_on_the_wait(serve: Callable[..., FlagshipServer]) -> None:
    def script(n: int) -> Reply:
        if n == 0:
            return 429, {"Retry-After": "1"}, None
        return 200, {}, chat_completion("ok")

    server = serve(script)
    started = time.monotonic()
    completion = make_client(server.url).complete(MESSAGES, max_tokens=8)
    assert completion.attempts == 2
    assert time.monotonic() - started >= 0.95


def test_long_retry_after_is_handed_to_the_caller(serve: Callable[..., FlagshipServer]) -> None:
    server = serve(lambda n: (429, {"Retry-After": "120"}, None))
    with pytest.raises(FlagshipError) as caught:
        make_client(server.url, max_retry_after=30).complete(MESSAGES, max_tokens=8)
    assert caught.value.transient is True
    assert caught.value.retry_after == pytest.approx(120)
    assert len(server.requests) == 1


def test_timeouts_are_transient(serve: Callable[..., FlagshipServer]) -> None:
    server = serve(lambda n: (200, {}, chat_completion("late")), delay=1.0)
    with pytest.raises(FlagshipError) as caught:
        make_client(server.url, timeout=0.2, max_retries=1).complete(MESSAGES, max_tokens=8)
    assert caught.value.transient is True
    assert attempts_of(caught.value) == 2
    assert "timed out" in caught.value.message


def test_connection_refused_is_transient() -> None:
    server = FlagshipServer(lambda n: (200, {}, chat_completion("x")))
    url = server.url
    server.close()
    with pytest.raises(FlagshipError) as caught:
        make_client(url, max_retries=1).complete(MESSAGES, max_tokens=8)
    assert caught.value.transient is True
    assert attempts_of(caught.value) == 2


def test_concurrency_limit_holds_across_threads(serve: Callable[..., FlagshipServer]) -> None:
    server = serve(lambda n: (200, {}, chat_completion("ok")), delay=0.1)
    client = make_client(server.url, max_concurrency=2)
    threads = [
        threading.Thread(target=client.complete, args=(MESSAGES,), kwargs={"max_tokens": 4})
        for _ in range(6)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(server.requests) == 6
    assert server.max_in_flight == 2


def test_rate_limit_spaces_requests(serve: Callable[..., FlagshipServer]) -> None:
    server = serve(lambda n: (200, {}, chat_completion("ok")))
    client = make_client(server.url, requests_per_second=10.0)
    started = time.monotonic()
    for _ in range(15):
        client.complete(MESSAGES, max_tokens=4)
    # A burst of 10, then five more at 10 per second.
    assert time.monotonic() - started >= 0.45


def test_parse_retry_after_forms() -> None:
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after({"Retry-After": "7"}) == 7.0
    assert parse_retry_after({"retry-after-ms": "250", "Retry-After": "7"}) == 0.25
    later = format_datetime(now + timedelta(seconds=30), usegmt=True)
    assert parse_retry_after({"Retry-After": later}, now=now) == pytest.approx(30)
    earlier = format_datetime(now - timedelta(seconds=30), usegmt=True)
    assert parse_retry_after({"Retry-After": earlier}, now=now) == 0.0
    assert parse_retry_after({"Retry-After": "soon"}) is None


def test_backoff_is_full_jitter_with_a_floor() -> None:
    import random

    rng = random.Random(7)
    delays = [backoff_delay(5, base=0.5, cap=4.0, rng=rng) for _ in range(200)]
    assert 0.0 <= min(delays) < 0.5 and 3.5 < max(delays) <= 4.0
    assert all(
        backoff_delay(1, base=0.5, cap=4.0, retry_after=2.0, rng=rng) >= 2.0 for _ in range(20)
    )


def test_token_bucket_rate() -> None:
    bucket = TokenBucket(rate=20.0, capacity=1.0)
    started = time.monotonic()
    for _ in range(6):
        bucket.acquire()
    assert time.monotonic() - started >= 0.24
