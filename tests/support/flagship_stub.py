"""An OpenAI-compatible flagship stand-in that counts calls per prompt (OpenAI's service cannot
run here; the client talking to it is the project's real one)."""

from __future__ import annotations

import json
import time
from collections import Counter

from tests.support.alert_receiver import Received, Receiver


class CountingFlagship(Receiver):
    """Answers chat completions after ``delay`` seconds; ``calls`` counts them per prompt."""

    def __init__(self, delay: float) -> None:
        self.calls: Counter[str] = Counter()
        self.delay = delay
        super().__init__(default=self._answer)  # type: ignore[arg-type]

    def _answer(self, request: Received) -> tuple[int, dict[str, str], bytes]:
        body = request.json()
        assert request.path == "/v1/chat/completions" and body["messages"], body
        self.calls[body["messages"][-1]["content"]] += 1
        time.sleep(self.delay)
        completion = {
            "id": "chatcmpl-test",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body["model"],
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "The answer is #### 42"},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 20, "completion_tokens": 8, "total_tokens": 28},
        }
        return 200, {"Content-Type": "application/json"}, json.dumps(completion).encode()

    def settings(self) -> dict[str, object]:
        """The SHADOWGAP_* settings that point the flagship client here."""
        return {
            "flagship_client": "openai",
            "flagship_base_url": self.url("/v1"),
            "flagship_api_key": "test-key",
            "flagship_usd_per_1k_prompt_tokens": 1.0,
        }
