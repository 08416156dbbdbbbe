"""Ingest throughput and latency into PostgreSQL, next to an empty FastAPI endpoint.

Starts the real API (uvicorn, PostgreSQL database of its own, Redis broker) and an empty
FastAPI app with the same server settings, drives both with wrk (Debian's `wrk` package) and
prints requests/s, events/s, p50 and p99 latency, and the ratios:

    single-event ingest req/s / empty endpoint req/s      (target >= 0.5)
    batched ingest events/s                                (target >= 3,000)
    OTLP spans/s / native batched events/s                 (target >= 0.5; PASS/FAIL, exit 1)

The OTLP run posts uncompressed ExportTraceServiceRequest protobufs of 100 LLM spans (GenAI
semantic conventions, the same GSM8K prompt and answer as the native events) to /v1/traces; wrk
rewrites the trace id of each request so that every span is new.
    batched ingest events/s with PII redaction (the default) / without, same run
                                                           (target >= 0.60)

and the redaction cost per event measured in-process (microseconds, on GSM8K prompts with and
without PII in them). Exits non-zero when the redaction target fails.

Usage: python benchmarks/ingest.py [--seconds 10] [--connections 16] [--workers 1]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import psycopg
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from shadowgap.privacy.events import redact_batch  # noqa: E402
from shadowgap.privacy.redaction import KINDS, redactor  # noqa: E402
from shadowgap.schemas import TrafficEvent  # noqa: E402
from tests.support.factories import native_event  # noqa: E402

ADMIN_DSN = os.environ.get(
    "SHADOWGAP_BENCH_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("SHADOWGAP_BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
API_KEY = "bench-key"
# Mapping a span (protobuf decode, attribute lookups, JSON message parsing) costs more than
# validating a native event; OTLP ingest must still run at half the native batched rate or better.
OTLP_RATIO_TARGET = 0.5

LUA = r"""
local template = [==[%s]==]
local per_request = %d
local counter = 0
local thread_id = 0
local next_thread = 0
function setup(thread)
  thread:set("thread_id", next_thread)
  next_thread = next_thread + 1
end
function request()
  local parts = {}
  for i = 1, per_request do
    counter = counter + 1
    parts[i] = string.gsub(template, "__ID__", "%s-" .. thread_id .. "-" .. counter)
  end
  local body = parts[1]
  if per_request > 1 then body = "[" .. table.concat(parts, ",") .. "]" end
  return wrk.format("POST", "%s", {["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer %s"}, body)
end
"""

# The protobuf body is binary, so it is read from a file; its trace ids are a 16-byte marker
# that each request replaces (same length, so the protobuf stays valid) with a counter.
OTLP_TRACE_MARKER = b"@@shadowgapTID@@"
OTLP_LUA = r"""
local template = ""
local counter = 0
thread_id = 0
local next_thread = 0
function setup(thread)
  thread:set("thread_id", next_thread)
  next_thread = next_thread + 1
end
function init(args)
  local handle = assert(io.open("%s", "rb"))
  template = handle:read("*a")
  handle:close()
end
function request()
  counter = counter + 1
  local trace_id = string.format("%%08x%%08x", thread_id, counter)
  local body = string.gsub(template, "%s", trace_id)
  return wrk.format("POST", "/v1/traces", {["Content-Type"] = "application/x-protobuf",
    ["Authorization"] = "Bearer %s"}, body)
end
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(app: str, port: int, workers: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            app,
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--no-access-log",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return proc
        except httpx.TransportError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"{app} did not start: {proc.stderr.read().decode() if proc.stderr else ''}")


def run_wrk(
    url: str, path: str, per_request: int, tag: str, seconds: int, connections: int
) -> dict[str, float]:
    template = json.dumps(native_event("__ID__"))
    script = LUA % (template, per_request, tag, path, API_KEY)
    return _wrk(url, script, per_request, seconds, connections)


def run_wrk_otlp(url: str, per_request: int, seconds: int, connections: int) -> dict[str, float]:
    with tempfile.NamedTemporaryFile("wb", suffix=".pb", delete=False) as body:
        body.write(otlp_body(per_request))
    script = OTLP_LUA % (body.name, OTLP_TRACE_MARKER.decode(), API_KEY)
    try:
        return _wrk(url, script, per_request, seconds, connections)
    finally:
        os.unlink(body.name)


def otlp_body(per_request: int) -> bytes:
    """One export request of LLM spans carrying what native_event carries."""
    event = native_event("otlp")
    prompt, answer = event["request"]["messages"][0]["content"], event["answer"]
    start = 1_764_590_400_000_000_000
    spans = []
    for index in range(per_request):
        span = Span(
            trace_id=OTLP_TRACE_MARKER,
            span_id=(index + 1).to_bytes(8, "big"),
            name=f"chat {event['route']['model']}",
            kind=Span.SPAN_KIND_CLIENT,
            start_time_unix_nano=start + index * 1_000_000,
            end_time_unix_nano=start + index * 1_000_000 + 420_000_000,
        )
        span.attributes.extend(
            _key_values(
                {
                    "gen_ai.operation.name": "chat",
                    "gen_ai.provider.name": "openai",
                    "gen_ai.request.model": event["route"]["model"],
                    "gen_ai.request.temperature": 0.0,
                    "gen_ai.input.messages": json.dumps(
                        [{"role": "user", "parts": [{"type": "text", "content": prompt}]}]
                    ),
                    "gen_ai.output.messages": json.dumps(
                        [
                            {
                                "role": "assistant",
                                "parts": [{"type": "text", "content": answer}],
                                "finish_reason": "stop",
                            }
                        ]
                    ),
                    "gen_ai.usage.input_tokens": 120,
                    "gen_ai.usage.output_tokens": 80,
                    "gen_ai.response.time_to_first_chunk": 0.09,
                    "router.tier": event["route"]["tier"],
                    "router.score": event["route"]["score"],
                    "router.reason": event["route"]["reason"],
                }
            )
        )
        spans.append(span)
    resource = Resource(attributes=_key_values({"service.name": "router", "tenant.id": "acme"}))
    request = ExportTraceServiceRequest(
        resource_spans=[ResourceSpans(resource=resource, scope_spans=[ScopeSpans(spans=spans)])]
    )
    return request.SerializeToString()


def _key_values(values: dict[str, object]) -> list[KeyValue]:
    pairs = []
    for key, value in values.items():
        if isinstance(value, str):
            wrapped = AnyValue(string_value=value)
        elif isinstance(value, int):
            wrapped = AnyValue(int_value=value)
        else:
            wrapped = AnyValue(double_value=float(value))  # type: ignore[arg-type]
        pairs.append(KeyValue(key=key, value=wrapped))
    return pairs


def _wrk(
    url: str, script: str, per_request: int, seconds: int, connections: int
) -> dict[str, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", handle.name, url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    os.unlink(handle.name)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "requests_per_s": rps,
        "events_per_s": rps * per_request,
        "p50_ms": _latency(out, "50%"),
        "p99_ms": _latency(out, "99%"),
        "errors": float(non2xx.group(1)) if non2xx else 0.0,
    }


def _latency(out: str, label: str) -> float:
    match = re.search(rf"{re.escape(label)}\s+([\d.]+)(us|ms|s)", out)
    if match is None:
        return float("nan")
    value, unit = float(match.group(1)), match.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value


REDACTION_TARGET = 0.60
PII = "I am jane.doe@example.com, card 4111 1111 1111 1111, call +1 202-555-0143. "


def redaction_cost_us(events: list[TrafficEvent], rounds: int = 5) -> float:
    """Microseconds per event of redact_batch with every kind on (best of ``rounds``)."""
    every_kind = redactor(KINDS)
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        redact_batch(events, every_kind, keep_originals=True)
        best = min(best, time.perf_counter() - started)
    return best / len(events) * 1e6


def sample_events(n: int, with_pii: bool) -> list[TrafficEvent]:
    events = []
    for i in range(n):
        raw = native_event(f"r-{i}", row=i)
        if with_pii:
            raw["request"]["messages"][0]["content"] = (
                PII + raw["request"]["messages"][0]["content"]
            )
        events.append(TrafficEvent.model_validate(raw))
    return events


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed: apt-get install wrk")

    name = f"shadowgap_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    database_url = (
        ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://") + f"/{name}"
    )
    env = {
        **os.environ,
        "SHADOWGAP_DATABASE_URL": database_url,
        "SHADOWGAP_BROKER_URL": REDIS_URL,
        "SHADOWGAP_API_KEYS": API_KEY,
        "SHADOWGAP_LOG_LEVEL": "WARNING",
    }
    subprocess.run(
        [sys.executable, "-m", "shadowgap.cli.main", "db", "upgrade"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    results: dict[str, dict[str, float]] = {}
    servers = []
    try:
        empty_port, api_port = free_port(), free_port()
        servers.append(
            start_server("benchmarks.empty_app:create_app", empty_port, args.workers, env)
        )
        servers.append(start_server("shadowgap.api.app:create_app", api_port, args.workers, env))
        # The same API with redaction off: the baseline of the redaction ratio.
        plain_port = free_port()
        plain_env = {**env, "SHADOWGAP_REDACT": ""}
        servers.append(
            start_server("shadowgap.api.app:create_app", plain_port, args.workers, plain_env)
        )
        common = {"seconds": args.seconds, "connections": args.connections}
        results["empty endpoint"] = run_wrk(
            f"http://127.0.0.1:{empty_port}", "/empty", 1, "e", **common
        )
        results["ingest, 1 event"] = run_wrk(
            f"http://127.0.0.1:{api_port}", "/v1/events", 1, "s", **common
        )
        results["ingest, batch of 100"] = run_wrk(
            f"http://127.0.0.1:{api_port}", "/v1/events", 100, "b", **common
        )
        results["OTLP, 100 spans"] = run_wrk_otlp(f"http://127.0.0.1:{api_port}", 100, **common)
        results["batch of 100, no redaction"] = run_wrk(
            f"http://127.0.0.1:{plain_port}", "/v1/events", 100, "p", **common
        )
        with psycopg.connect(ADMIN_DSN.rsplit("/", 1)[0] + f"/{name}") as conn:
            stored = conn.execute("SELECT count(*) FROM traffic_events").fetchone()[0]  # type: ignore[index]
            stored_otlp = conn.execute(
                "SELECT count(*) FROM traffic_events WHERE source_format = 'otlp'"
            ).fetchone()[0]  # type: ignore[index]
    finally:
        for server in servers:
            server.terminate()
            server.wait(timeout=30)
        with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    print(
        f"\nPOST /v1/events into PostgreSQL; wrk, 1 thread, {args.connections} connections, "
        f"{args.seconds}s each; uvicorn workers: {args.workers}; "
        "2-core machine shared with the load generator"
    )
    print(f"{'endpoint':<24}{'req/s':>10}{'events/s':>11}{'p50 ms':>9}{'p99 ms':>9}{'non-2xx':>9}")
    for label, row in results.items():
        print(
            f"{label:<24}{row['requests_per_s']:>10,.0f}{row['events_per_s']:>11,.0f}"
            f"{row['p50_ms']:>9.2f}{row['p99_ms']:>9.2f}{row['errors']:>9.0f}"
        )
    single_ratio = (
        results["ingest, 1 event"]["requests_per_s"] / results["empty endpoint"]["requests_per_s"]
    )
    batch_ratio = (
        results["ingest, batch of 100"]["events_per_s"]
        / results["empty endpoint"]["requests_per_s"]
    )
    print(
        f"\nsingle-event ingest / empty endpoint request rate: {single_ratio:.2f}  (target >= 0.50)"
    )
    print(f"batched ingest events/s / empty endpoint request rate: {batch_ratio:.2f}")
    print(
        f"batched ingest: {results['ingest, batch of 100']['events_per_s']:,.0f} events/s"
        "  (target >= 3,000)"
    )
    print(f"events stored in PostgreSQL during the run: {stored:,} (from OTLP: {stored_otlp:,})")
    otlp_ratio = (
        results["OTLP, 100 spans"]["events_per_s"] / results["ingest, batch of 100"]["events_per_s"]
    )
    otlp_ok = otlp_ratio >= OTLP_RATIO_TARGET and results["OTLP, 100 spans"]["errors"] == 0
    print(
        f"OTLP protobuf spans/s / native batched events/s: {otlp_ratio:.2f}"
        f"  (target >= {OTLP_RATIO_TARGET:.2f}, no non-2xx)  {'PASS' if otlp_ok else 'FAIL'}"
    )
    if not otlp_ok:
        sys.exit(1)

    redaction_ratio = (
        results["ingest, batch of 100"]["events_per_s"]
        / results["batch of 100, no redaction"]["events_per_s"]
    )
    plain_us = 1e6 / results["batch of 100, no redaction"]["events_per_s"]
    clean_us = redaction_cost_us(sample_events(500, with_pii=False))
    pii_us = redaction_cost_us(sample_events(500, with_pii=True))
    print(
        f"\nPII redaction (every kind, the default): {clean_us:.0f} us/event on GSM8K prompts, "
        f"{pii_us:.0f} us/event with an e-mail, card and phone in each prompt (in-process); "
        f"ingest without redaction takes {plain_us:.0f} us/event (1 / batched events/s)"
    )
    verdict = "PASS" if redaction_ratio >= REDACTION_TARGET else "FAIL"
    print(
        f"batched ingest events/s with redaction / without: {redaction_ratio:.2f}  "
        f"(target >= {REDACTION_TARGET:.2f}) {verdict}"
    )
    if verdict == "FAIL":
        sys.exit(1)


if __name__ == "__main__":
    main()
