"""A real HTTP receiver on 127.0.0.1 in a thread, answering from a script of responses."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


Response = tuple[int, dict[str, str], bytes]
Responder = Response | Callable[[Received], Response]


class Receiver:
    """Records every POST; answers with the next scripted response, then ``default``."""

    def __init__(self, default: Response = (200, {}, b"ok")) -> None:
        self.requests: list[Received] = []
        self.default = default
        self._script: list[Responder] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server hook name
                length = int(self.headers.get("Content-Length") or 0)
                got = Received(self.path, dict(self.headers.items()), self.rfile.read(length))
                status, headers, body = receiver._next(got)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep test output quiet

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def _next(self, got: Received) -> Response:
        with self._lock:
            self.requests.append(got)
            responder = self._script.pop(0) if self._script else self.default
        return responder(got) if callable(responder) else responder

    def respond(self, *responses: Responder) -> None:
        with self._lock:
            self._script.extend(responses)

    def url(self, path: str) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}{path}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
