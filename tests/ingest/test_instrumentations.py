"""The four real OpenTelemetry instrumentations of the ``openai`` client, end to end.

Each runs in a sidecar virtualenv of its own (tests/support/sidecar_venv.py) with the real
``openai`` client, which calls a local fake of OpenAI's chat completions endpoint
(tests/support/fake_openai.py) and exports OTLP/HTTP protobuf, with the content settings that
docs/sending-traffic.md documents for it, to a live shadowgap API on PostgreSQL + Redis. The
stored events must hold the model as requested, the messages as the client sent them (tool
turns included), the answer or its tool call, the tools, the token counts and the latency.

What an instrumentation does not record cannot be stored; each such gap is listed here, in
``NOT_RECORDED``, and documented: the test asserts everything else exactly."""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import psycopg
import pytest
from sqlalchemy import create_engine, func, select

from shadowgap.db import models
from tests.support.fake_openai import (
    COMPLETION_TOKENS,
    PROMPT_TOKENS,
    SERVED_SUFFIX,
    TEXT_ANSWER,
    TOOL_CALL,
    FakeOpenAI,
)
from tests.support.live_api import start_api
from tests.support.processes import free_port
from tests.support.settings import API_KEY, GSM8K_CSV, POSTGRES_SERVER, ROOT, migrate
from tests.support.sidecar_venv import sidecar_python

pytestmark = pytest.mark.postgres

APP = ROOT / "tests" / "support" / "instrumented_openai_app.py"
_SDK = ["opentelemetry-sdk==1.45.2", "opentelemetry-exporter-otlp-proto-http==1.45.2"]
# Exact pins, as found on PyPI. openai-v2 2.4b0 needs httpx (openai 3 brings httpx2 instead)
# and util-genai 1.1b0 (1.2b0 dropped the module it imports); OpenLIT 1.45.0 wants openai < 3,
# and its instrumentation pins resolve only with the 0.66b1 contrib line.
SIDECARS: dict[str, list[str]] = {
    "openinference": ["openinference-instrumentation-openai==0.1.66", "openai==3.63.0", *_SDK],
    "openllmetry": ["opentelemetry-instrumentation-openai==0.62.4", "openai==3.63.0", *_SDK],
    "openai-v2": [
        "opentelemetry-instrumentation-openai-v2==2.4b0",
        "opentelemetry-util-genai==1.1b0",
        "httpx==0.29.0",
        "openai==3.63.0",
        *_SDK,
    ],
    "openlit": [
        "openlit==1.45.0",
        "openai==2.54.0",
        "opentelemetry-api==1.45.1",
        "opentelemetry-sdk==1.45.1",
        "opentelemetry-instrumentation==0.66b1",
        "opentelemetry-semantic-conventions==0.66b1",
    ],
}
# The content settings of docs/sending-traffic.md, per configuration tested.
_V2_OPT_IN = {"OTEL_SEMCONV_STABILITY_OPT_IN": "gen_ai_latest_experimental"}
CONFIGURATIONS: dict[str, tuple[str, dict[str, str]]] = {
    "openinference": ("openinference", {}),  # records content unless OPENINFERENCE_HIDE_*
    "openllmetry": ("openllmetry", {"TRACELOOP_TRACE_CONTENT": "true"}),
    "openai-v2-span": (
        "openai-v2",
        {**_V2_OPT_IN, "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "span_only"},
    ),
    # Content in a log record only: joined to its span from POST /v1/logs.
    "openai-v2-logs": (
        "openai-v2",
        {**_V2_OPT_IN, "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "event_only"},
    ),
    "openlit": ("openlit", {"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "true"}),
}
# What each instrumentation leaves out of its telemetry (documented in docs/sending-traffic.md).
NOT_RECORDED: dict[str, set[str]] = {
    "openinference": set(),
    "openllmetry": {"tool_choice"},
    "openai-v2": {"tools", "tool_choice"},
    # OpenLIT 1.45.0 drops an assistant turn that only calls tools from gen_ai.input.messages.
    "openlit": {"tool_choice", "assistant_tool_call_turn"},
}

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Current weather in a city",
            "parameters": {
                "type": "object",
                "properties": {
                    "city": {"type": "string"},
                    "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                },
                "required": ["city"],
            },
        },
    }
]
PLAIN = {
    "model": "gpt-4o-mini",
    "messages": [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "What is the capital of France?"},
    ],
    "temperature": 0.2,
    "max_tokens": 64,
}
AGENTIC = {
    "model": "gpt-4o-mini",
    "messages": [
        {"role": "system", "content": "You are a weather assistant."},
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_paris_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_paris_1", "content": '{"temp_c": 14}'},
        {"role": "user", "content": "And in Rome?"},
    ],
    "tools": TOOLS,
    "tool_choice": "auto",
}


@dataclass
class LiveApi:
    url: str
    database: str


@pytest.fixture(scope="module")
def live_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApi]:
    """The API as its own process on a PostgreSQL database of this module, shared by its
    tests (each reads only the events stored after it started); the requested model
    ``gpt-4o-mini`` is the cheap route."""
    tmp = tmp_path_factory.mktemp("instrumentations")
    name = f"shadowgap_t_{uuid.uuid4().hex[:12]}"
    admin_dsn = POSTGRES_SERVER.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin_dsn, autocommit=True, connect_timeout=5) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    database = f"{POSTGRES_SERVER.rsplit('/', 1)[0]}/{name}"
    try:
        migrate(database)
        with pytest.MonkeyPatch.context() as env:
            env.setenv("SHADOWGAP_CHEAP_ROUTES", "gpt-4o-mini")
            env.setenv("SHADOWGAP_FLAGSHIP_CLIENT", "recorded")
            env.setenv("SHADOWGAP_RECORDED_ANSWERS_PATH", str(GSM8K_CSV))
            port = free_port()
            broker = f"sqla+sqlite:///{tmp}/broker.db"
            process = start_api(port, database, broker, tmp / "api.log")
        try:
            yield LiveApi(f"http://127.0.0.1:{port}", database)
        finally:
            process.terminate()
            process.wait(timeout=30)
    finally:
        with psycopg.connect(admin_dsn, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _events_after(database: str, last_id: int, count: int) -> list[dict[str, Any]]:
    """The events stored after ``last_id``, once ``count`` are there (or after 30 s)."""
    engine = create_engine(database)
    table = models.TrafficEvent.__table__
    try:
        deadline = time.monotonic() + 30
        while True:
            with engine.connect() as connection:
                rows = connection.execute(
                    select(table).where(table.c.id > last_id).order_by(table.c.id)
                ).mappings()
                events = [dict(row) for row in rows]
            if len(events) >= count or time.monotonic() > deadline:
                return events
            time.sleep(0.2)
    finally:
        engine.dispose()


def _last_id(database: str) -> int:
    engine = create_engine(database)
    try:
        with engine.connect() as connection:
            table = models.TrafficEvent.__table__
            return int(connection.execute(select(func.coalesce(func.max(table.c.id), 0))).scalar())
    finally:
        engine.dispose()


def _run_app(configuration: str, api: str, fake: FakeOpenAI) -> float:
    """Run the instrumented app once (both requests); its wall time in ms."""
    package, settings = CONFIGURATIONS[configuration]
    python = sidecar_python(f"otel-{package}", SIDECARS[package])
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", ""),
        "OTEL_EXPORTER_OTLP_ENDPOINT": api,
        "OTEL_EXPORTER_OTLP_HEADERS": f"Authorization=Bearer%20{API_KEY}",
        "OTEL_SERVICE_NAME": "instrumented-app",
        **settings,
    }
    started = time.perf_counter()
    result = subprocess.run(
        [str(python), str(APP), package, fake.base_url],
        input=json.dumps([PLAIN, AGENTIC]),
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return (time.perf_counter() - started) * 1000


def _normalised(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Messages compared by meaning: tool-call arguments as parsed JSON (instrumentations
    record them as objects, so their original spacing cannot come back), absent keys as None."""
    result = []
    for message in messages:
        turn = {
            "role": message["role"],
            "content": message.get("content"),
            "tool_call_id": message.get("tool_call_id"),
            "tool_calls": [
                {
                    "id": call.get("id"),
                    "name": call["function"]["name"],
                    "arguments": json.loads(call["function"]["arguments"]),
                }
                for call in message.get("tool_calls") or []
            ],
        }
        result.append(turn)
    return result


def _expected_agentic_messages(package: str) -> list[dict[str, Any]]:
    messages = list(AGENTIC["messages"])  # type: ignore[call-overload]
    if "assistant_tool_call_turn" in NOT_RECORDED[package]:
        messages = [m for m in messages if not m.get("tool_calls")]
    return _normalised(messages)


@pytest.mark.parametrize("configuration", sorted(CONFIGURATIONS))
def test_a_real_instrumentation_maps_exactly(configuration: str, live_api: LiveApi) -> None:
    package = CONFIGURATIONS[configuration][0]
    last_id = _last_id(live_api.database)
    with FakeOpenAI() as fake:
        wall_ms = _run_app(configuration, live_api.url, fake)
        # The client really sent both requests as written (the fake saw them).
        assert [r["messages"] for r in fake.requests] == [PLAIN["messages"], AGENTIC["messages"]]

    events = [SimpleNamespace(**row) for row in _events_after(live_api.database, last_id, 2)]
    assert len(events) == 2, (configuration, [e.request for e in events])
    by_turns = {len(e.request["messages"]) > 2: e for e in events}
    plain, agentic = by_turns[False], by_turns[True]
    for event in (plain, agentic):
        assert event.source_format == "otlp"
        # The model as requested decides the tier; the served one is kept as the model.
        assert (event.route_tier, event.route_model) == (
            "gpt-4o-mini",
            f"gpt-4o-mini{SERVED_SUFFIX}",
        )
        assert event.is_cheap
        assert (event.prompt_tokens, event.completion_tokens) == (PROMPT_TOKENS, COMPLETION_TOKENS)
        assert event.latency_ms is not None and 0 < event.latency_ms < wall_ms
        assert event.status == "ok"

    # Plain: the prompt as sent (the system prompt once), the settings the caller set and no
    # other, the answer.
    assert _normalised(plain.request["messages"]) == _normalised(PLAIN["messages"])  # type: ignore[arg-type]
    assert plain.request["params"] == {"temperature": 0.2, "max_tokens": 64}
    assert (plain.answer, plain.answer_tool_calls, plain.finish_reason) == (
        TEXT_ANSWER,
        None,
        "stop",
    )

    # Agentic: the history with its tool call and tool result, the tools, and an answer that
    # is a tool call.
    assert _normalised(agentic.request["messages"]) == _expected_agentic_messages(package)
    params = agentic.request["params"]
    if "tools" not in NOT_RECORDED[package]:
        assert params["tools"] == TOOLS
    if "tool_choice" not in NOT_RECORDED[package]:
        assert params["tool_choice"] == "auto"
    assert set(params) <= {"tools", "tool_choice"}, params
    assert agentic.finish_reason == "tool_calls"
    assert not agentic.answer
    assert _normalised(
        [{"role": "assistant", "tool_calls": agentic.answer_tool_calls}]
    ) == _normalised([{"role": "assistant", "tool_calls": [TOOL_CALL]}])
