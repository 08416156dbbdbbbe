"""A local stand-in for OpenAI's chat completions endpoint (OpenAI's service cannot be reached
from the tests): it answers ``POST /v1/chat/completions`` in the documented response format and
records every request body it received, so a test can compare what shadowgap stored with what
the client really sent.

The answer depends on the request: with ``tools`` it is a tool call (``finish_reason``
``tool_calls``, ``content`` null), otherwise text. The served model carries a date suffix, as
OpenAI's does (``gpt-4o-mini`` is served as ``gpt-4o-mini-2024-07-18``)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SERVED_SUFFIX = "-2024-07-18"
TEXT_ANSWER = "Paris is the capital of France."
TOOL_CALL = {
    "id": "call_rome_1",
    "type": "function",
    "function": {"name": "get_weather", "arguments": '{"city": "Rome", "unit": "celsius"}'},
}
PROMPT_TOKENS = 42
COMPLETION_TOKENS = 9


def completion(request: dict[str, Any], number: int) -> dict[str, Any]:
    """A chat.completion object as OpenAI documents it."""
    if request.get("tools"):
        message: dict[str, Any] = {
            "role": "assistant",
            "content": None,
            "tool_calls": [TOOL_CALL],
            "refusal": None,
            "annotations": [],
        }
        finish = "tool_calls"
    else:
        message = {"role": "assistant", "content": TEXT_ANSWER, "refusal": None, "annotations": []}
        finish = "stop"
    return {
        "id": f"chatcmpl-fake{number:04d}",
        "object": "chat.completion",
        "created": 1764590400,
        "model": f"{request['model']}{SERVED_SUFFIX}",
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
        "usage": {
            "prompt_tokens": PROMPT_TOKENS,
            "completion_tokens": COMPLETION_TOKENS,
            "total_tokens": PROMPT_TOKENS + COMPLETION_TOKENS,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        },
        "service_tier": "default",
        "system_fingerprint": "fp_fake0001",
    }


class FakeOpenAI:
    """The server on a free loopback port, in a thread; ``requests`` holds the bodies seen."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))))
                if self.path.rstrip("/") != "/v1/chat/completions":
                    self._send(404, {"error": {"message": f"no route {self.path}"}})
                    return
                owner.requests.append(body)
                self._send(200, completion(body, len(owner.requests)))

            def _send(self, status: int, document: dict[str, Any]) -> None:
                data = json.dumps(document).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:  # quiet
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __enter__(self) -> FakeOpenAI:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
