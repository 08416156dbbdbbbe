"""A real LiteLLM SDK as a sender: run by the sidecar virtualenv's python (never the project's).

    <sidecar python> tests/support/litellm_sender.py '<json config>'

The config names ``endpoint`` (shadowgap's ``/v1/ingest/litellm``), ``api_key`` (an ingest
key) and ``calls``: each a ``litellm.completion`` keyword set (model, api_base of an
OpenAI-compatible server standing for the cheap model, messages, tools, ...). LiteLLM's
generic API logger ships each call's StandardLoggingPayload to the endpoint, configured the
SDK way the docs give (``GENERIC_LOGGER_ENDPOINT``, ``GENERIC_LOGGER_HEADERS``). It prints
one JSON line: the LiteLLM version, each answer's message and how many payloads the logger
had queued.

The generic logger only implements LiteLLM's async hooks (``async_log_success_event``), so a
synchronous ``litellm.completion`` cannot drive it (the logger even needs a running event loop
to be built: its periodic flush is an asyncio task); the calls go through
``litellm.acompletion``, the SDK's async form of the same call, and the queue is flushed once
all are answered (as the flush interval would).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Any


async def _run(config: dict[str, Any]) -> dict[str, Any]:
    import litellm
    from litellm.integrations.generic_api.generic_api_callback import GenericAPILogger

    os.environ["GENERIC_LOGGER_ENDPOINT"] = config["endpoint"]
    os.environ["GENERIC_LOGGER_HEADERS"] = f"Authorization=Bearer {config['api_key']}"
    # callbacks=["generic_api"] builds the same logger only where litellm-enterprise imports
    # (litellm[proxy]); a plain `pip install litellm` needs the logger built directly.
    logger = GenericAPILogger()
    litellm.callbacks = [logger]

    answers = []
    for call in config["calls"]:
        # Each call names its api_base (the cheap model's server); the key is a placeholder.
        response = await litellm.acompletion(api_key="sk-not-a-real-key", **call)
        answers.append(response.choices[0].message.model_dump())
    # Logging runs in background tasks after each call returns: wait for every payload.
    for _ in range(400):
        if len(logger.log_queue) >= len(config["calls"]):
            break
        await asyncio.sleep(0.05)
    queued = len(logger.log_queue)
    await logger.flush_queue()
    from importlib.metadata import version

    return {"litellm_version": version("litellm"), "answers": answers, "queued": queued}


def main() -> None:
    config = json.loads(sys.argv[1])
    print(json.dumps(asyncio.run(_run(config))))


if __name__ == "__main__":
    main()
