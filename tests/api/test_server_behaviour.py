"""What a real uvicorn server does around errors and big bodies.

- After an unexpected error the answer is a JSON 500 and the keep-alive connection stays
  usable (Starlette re-raises after its 500, and uvicorn then closes the connection, so the
  sender's next request on it was reset).
- Big bodies are parsed off the event loop: /healthz is answered while they are parsed.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from shadowgap.api.app import create_app
from shadowgap.api.routes import ingest as ingest_routes
from tests.support.factories import native_event
from tests.support.processes import free_port
from tests.support.settings import auth


@contextmanager
def serve(app: FastAPI) -> Iterator[int]:
    """Run ``app`` on a real uvicorn server in a thread; yields its port."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("server did not start")
        time.sleep(0.05)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def _exchange(sock: socket.socket, path: str) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 GET on an open connection; returns status, headers, body."""
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: test\r\n\r\n".encode())
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"connection closed before the response to {path}")
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    lines = head.decode().split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    headers = {name.lower(): value for name, value in headers.items()}
    while len(body) < int(headers.get("content-length", 0)):
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"connection closed inside the response to {path}")
        body += chunk
    return int(lines[0].split()[1]), headers, body


def test_unexpected_error_is_json_500_and_keeps_the_connection(embedded: str) -> None:
    app = create_app()

    @app.get("/test-only/boom")
    def boom() -> None:
        raise RuntimeError("boom")

    with serve(app) as port, socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        for _ in range(5):
            status, headers, body = _exchange(sock, "/test-only/boom")
            assert status == 500
            assert headers["content-type"] == "application/json"
            assert json.loads(body) == {"error": "internal error", "detail": None}
            assert headers.get("connection") != "close"
            # The same connection answers the next request.
            status, _, body = _exchange(sock, "/healthz")
            assert (status, json.loads(body)) == (200, {"status": "ok"})


def test_healthz_is_answered_while_big_bodies_are_parsed(
    embedded: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each big body's parse waits (bounded) until /healthz has been answered, then parses the
    real body. If parsing ran on the event loop, /healthz could not be answered meanwhile and
    every parse would record that it waited in vain."""
    parse_started = threading.Event()
    healthz_answered = threading.Event()
    waited_in_vain: list[bool] = []
    real_parse = ingest_routes.parse_native

    def parse_after_healthz(body: bytes) -> Any:
        parse_started.set()
        waited_in_vain.append(not healthz_answered.wait(timeout=10))
        return real_parse(body)

    monkeypatch.setattr(ingest_routes, "parse_native", parse_after_healthz)
    # About 9.5 MB each: long prompts, as the reproduction sent.
    big_prompt = "How many eggs? " * 4000
    bodies = [
        json.dumps(
            [
                native_event(
                    f"big-{b}-{i}",
                    request={"messages": [{"role": "user", "content": big_prompt}]},
                )
                for i in range(155)
            ]
        ).encode()
        for b in range(4)
    ]
    assert all(9_000_000 < len(body) < 10_000_000 for body in bodies)

    with serve(create_app()) as port:
        base = f"http://127.0.0.1:{port}"
        results: list[int] = []

        def post(body: bytes) -> None:
            response = httpx.post(
                f"{base}/v1/events",
                content=body,
                headers={**auth(), "Content-Type": "application/json"},
                timeout=120,
            )
            results.append(response.status_code)

        posters = [threading.Thread(target=post, args=(body,)) for body in bodies]
        for poster in posters:
            poster.start()
        assert parse_started.wait(timeout=120), "no body reached the parser"
        response = httpx.get(f"{base}/healthz", timeout=60)
        healthz_answered.set()
        for poster in posters:
            poster.join(timeout=180)

    assert response.status_code == 200
    assert results == [200, 200, 200, 200]
    assert waited_in_vain == [False] * 4
