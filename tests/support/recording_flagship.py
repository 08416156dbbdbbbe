"""An OpenAI-compatible flagship on a real local HTTP server that records every request and
answers with a scripted assistant message (a tool call by default). The client talking to it
is the project's real one (``openai`` SDK)."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from tests.support.alert_receiver import Received, Receiver

TOOL_CALL = {
    "id": "call_flagship_1",
    "type": "function",
    "function": {"name": "get_weather", "arguments": '{"city": "Rome", "unit": "celsius"}'},
}


class RecordingFlagship(Receiver):
    """Chat completions at ``/v1/chat/completions``; ``bodies()`` are the JSON bodies received."""

    def __init__(self, message: dict[str, Any] | None = None, finish_reason: str = "") -> None:
        self.message = message or {"role": "assistant", "content": None, "tool_calls": [TOOL_CALL]}
        self.finish_reason = finish_reason or (
            "tool_calls" if self.message.get("tool_calls") else "stop"
        )
        super().__init__(default=self._answer)  # type: ignore[arg-type]

    def _answer(self, request: Received) -> tuple[int, dict[str, str], bytes]:
        body = request.json()
        completion = {
            # Unique per answer, like OpenAI's: LiteLLM logs it as the event id.
            "id": f"chatcmpl-recorded-{uuid.uuid4().hex[:12]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "flagship"),
            "choices": [{"index": 0, "message": self.message, "finish_reason": self.finish_reason}],
            "usage": {"prompt_tokens": 50, "completion_tokens": 12, "total_tokens": 62},
        }
        return 200, {"Content-Type": "application/json"}, json.dumps(completion).encode()

    def bodies(self) -> list[dict[str, Any]]:
        assert all(r.path == "/v1/chat/completions" for r in self.requests), self.requests
        return [r.json() for r in self.requests]
