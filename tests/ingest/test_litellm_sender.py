"""The real ``litellm`` package as a sender, end to end.

LiteLLM 1.110.2 runs in its own cached virtualenv (tests/support/sidecar_venv.py; it is no
dependency of the project) and makes an agent's calls with ``litellm.acompletion`` against a
local OpenAI-compatible server (a real HTTP server answering in OpenAI's chat-completions
format: one call answered in prose, one with a tool call). The history is multi-turn: assistant
turns with ``tool_calls``, ``tool`` turns with their ids, ``tools``, ``tool_choice``,
``response_format`` and sampling settings. LiteLLM's generic API logger, configured as
docs/sending-traffic.md says, ships each call's StandardLoggingPayload to a live shadowgap API
(uvicorn, PostgreSQL, Redis). The stored events must keep the history with its tool calls and
ids, the params, the cheap answer's tool call, the tokens and the latency; and the flagship
re-run must receive what the cheap model received (as LiteLLM really sent it), less the
documented exclusions.
"""

from __future__ import annotations

import copy
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from shadowgap.config import get_settings
from shadowgap.db import models
from shadowgap.db.engine import session_scope
from shadowgap.llm.base import DROPPED_PARAMS
from shadowgap.llm.openai_compat import OpenAICompatClient
from shadowgap.shadow.runs import run_shadow
from tests.support.live_api import start_api
from tests.support.processes import free_port
from tests.support.recording_flagship import TOOL_CALL, RecordingFlagship
from tests.support.settings import API_KEY, ROOT
from tests.support.sidecar_venv import sidecar_python
from tests.support.tools import SUMMARY_FORMAT, TRAVEL_TOOLS

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

LITELLM = ["litellm==1.110.2"]
SENDER = ROOT / "tests" / "support" / "litellm_sender.py"
FLAGSHIP_MODEL = "flagship-under-test"

CHEAP_CALL = {
    "id": "call_rome",
    "type": "function",
    "function": {"name": "get_weather", "arguments": '{"city": "Rome", "unit": "celsius"}'},
}
PROSE = {"role": "assistant", "content": "Rome: 19C and clear."}
RESPONSE_FORMAT = SUMMARY_FORMAT
# An agent's conversation so far: a parallel pair of calls, their results, an answer, a new turn.
HISTORY: list[dict[str, Any]] = [
    {"role": "system", "content": "You are a travel assistant. Use the tools."},
    {"role": "user", "content": "Weather in Paris and Lisbon?"},
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_paris",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
            },
            {
                "id": "call_lisbon",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city":"Lisbon"}'},
            },
        ],
    },
    {"role": "tool", "tool_call_id": "call_paris", "content": "14C, light rain"},
    {"role": "tool", "tool_call_id": "call_lisbon", "content": "21C, sunny"},
    {"role": "assistant", "content": "Paris 14C and rainy, Lisbon 21C and sunny."},
    {"role": "user", "content": "And Rome?"},
]
PARAMS: dict[str, Any] = {
    "tools": TRAVEL_TOOLS,
    "tool_choice": "auto",
    "parallel_tool_calls": False,
    "response_format": RESPONSE_FORMAT,
    "stop": ["\nObservation:"],
    "seed": 1234,
    "top_p": 0.9,
    "temperature": 0.3,
    "max_tokens": 300,
}
# The decision of a router in front of the SDK (docs/sending-traffic.md): this call went cheap.
ROUTED_CHEAP = {"routing_decision": {"tier": "cheap", "model": "openai/gpt-4o-mini"}}


@pytest.fixture(scope="module")
def litellm_python() -> Path:
    return sidecar_python("litellm", LITELLM)


@pytest.fixture
def live_api(production: str, redis_url: str, configure: Any, tmp_path: Path) -> Iterator[str]:
    # Every cheap event sampled, no noise replicate: the re-run below is replicate 0.
    configure(sampling_min_rate=1.0, noise_floor_fraction=0.0)
    port = free_port()
    api = start_api(port, production, redis_url, tmp_path / "api.log")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        api.terminate()
        api.wait(timeout=30)


@pytest.fixture
def cheap_servers() -> Iterator[tuple[RecordingFlagship, RecordingFlagship]]:
    """The cheap model: one server answering in prose, one with a tool call."""
    prose = RecordingFlagship(message=PROSE)
    calls = RecordingFlagship(
        message={"role": "assistant", "content": None, "tool_calls": [CHEAP_CALL]}
    )
    yield prose, calls
    prose.close()
    calls.close()


def _send(python: Path, api: str, calls: list[dict[str, Any]]) -> dict[str, Any]:
    config = {"endpoint": f"{api}/v1/ingest/litellm", "api_key": API_KEY, "calls": calls}
    result = subprocess.run(
        [str(python), str(SENDER), json.dumps(config)],
        env={"LITELLM_LOCAL_MODEL_COST_MAP": "True", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def _call(server: RecordingFlagship, messages: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "model": "openai/gpt-4o-mini",
        "api_base": server.url("/v1"),
        "messages": messages,
        "metadata": ROUTED_CHEAP,
        **PARAMS,
    }


def _stored(event_id: str) -> models.TrafficEvent:
    with session_scope() as session:
        event = session.scalars(
            select(models.TrafficEvent).where(models.TrafficEvent.event_id == event_id)
        ).one()
        session.expunge(event)
        return event


def _rerun(pk: int, flagship: RecordingFlagship) -> dict[str, Any]:
    client = OpenAICompatClient(
        base_url=flagship.url("/v1"), api_key=None, model=FLAGSHIP_MODEL, max_retries=0
    )
    with session_scope() as session:
        run = run_shadow(session, pk, 0, client, get_settings())
        assert run.status == "ok", run.error
    (body,) = flagship.bodies()
    return body


def _less_exclusions(cheap_body: dict[str, Any]) -> dict[str, Any]:
    """What the flagship should get: the cheap body without the documented drops, its own
    model, the budget capped by flagship_max_tokens."""
    body = {k: v for k, v in copy.deepcopy(cheap_body).items() if k not in DROPPED_PARAMS}
    body["model"] = FLAGSHIP_MODEL
    body["max_tokens"] = min(body["max_tokens"], get_settings().flagship_max_tokens)
    return body


def _null_content_dropped(body: dict[str, Any]) -> dict[str, Any]:
    """``body`` with ``"content": null`` left out of assistant turns that call tools.

    The one difference found: LiteLLM forwards an assistant turn of the caller's ``content:
    None, tool_calls: [...]`` without its ``content`` key, while the StandardLoggingPayload
    logs the turn as the caller wrote it, so the re-run sends ``content: null``. OpenAI's API
    documents ``content`` of an assistant message as optional when ``tool_calls`` is given, so
    both are the same request.
    """
    body = copy.deepcopy(body)
    for message in body["messages"]:
        if message.get("tool_calls") and "content" in message and message["content"] is None:
            del message["content"]
    return body


def test_litellm_sdk_ships_agentic_calls_that_rerun_as_sent(
    litellm_python: Path,
    live_api: str,
    cheap_servers: tuple[RecordingFlagship, RecordingFlagship],
) -> None:
    prose_server, call_server = cheap_servers
    prose_history = HISTORY[:-1] + [{"role": "user", "content": "Thanks! Any umbrella needed?"}]
    sent = _send(
        litellm_python, live_api, [_call(prose_server, prose_history), _call(call_server, HISTORY)]
    )
    assert sent["litellm_version"] == "1.110.2"
    assert sent["queued"] == 2
    assert sent["answers"][1]["tool_calls"][0]["id"] == CHEAP_CALL["id"]

    with session_scope() as session:
        events = session.scalars(select(models.TrafficEvent).order_by(models.TrafficEvent.id)).all()
        found = [(e.event_id, e.route_tier, e.is_cheap) for e in events]
    assert len(found) == 2 and all(tier == "cheap" and cheap for _, tier, cheap in found), found
    prose_event, call_event = (_stored(event_id) for event_id, _, _ in found)

    # The history with its tool calls and ids, the tool turns, as the agent sent them.
    for event, history in ((prose_event, prose_history), (call_event, HISTORY)):
        messages = event.request["messages"]
        assert [m["role"] for m in messages] == [m["role"] for m in history]
        assert messages[2]["tool_calls"] == HISTORY[2]["tool_calls"]
        assert [m.get("tool_call_id") for m in messages[3:5]] == ["call_paris", "call_lisbon"]
        params = event.request["params"]
        for key in ("tools", "tool_choice", "response_format", "stop", "seed", "top_p"):
            assert params[key] == PARAMS[key], key
        # Tokens as the cheap model counted them (the server's usage), a measured latency.
        assert (event.prompt_tokens, event.completion_tokens) == (50, 12)
        assert event.latency_ms is not None and event.latency_ms > 0
    assert (prose_event.answer, prose_event.answer_tool_calls) == (PROSE["content"], None)
    assert prose_event.finish_reason == "stop"
    assert call_event.answer == ""
    assert call_event.answer_tool_calls == [CHEAP_CALL]
    assert call_event.finish_reason == "tool_calls"

    # The re-run gets what the cheap model got (recorded by its server), less the exclusions.
    (cheap_body,) = call_server.bodies()
    flagship = RecordingFlagship()
    try:
        flagship_body = _rerun(call_event.id, flagship)
    finally:
        flagship.close()
    assert _null_content_dropped(flagship_body) == _less_exclusions(cheap_body)
    assert flagship_body["messages"][2]["tool_calls"] == HISTORY[2]["tool_calls"]
    with session_scope() as session:
        run = session.scalars(
            select(models.ShadowRun).where(models.ShadowRun.event_pk == call_event.id)
        ).one()
        assert run.answer_tool_calls == [TOOL_CALL]
