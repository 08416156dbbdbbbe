"""Ingest throughput and latency into PostgreSQL, next to an empty FastAPI endpoint.

Starts the real API (uvicorn, PostgreSQL database of its own, Redis broker) and an empty
FastAPI app with the same server settings, drives both with wrk (Debian's `wrk` package) and
prints requests/s, events/s, p50 and p99 latency, and the ratios:

    single-event ingest req/s / empty endpoint req/s      (target >= 0.5)
    batched ingest events/s                                (target >= 3,000)
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from service.privacy.events import redact_batch  # noqa: E402
from service.privacy.redaction import KINDS, redactor  # noqa: E402
from service.schemas import TrafficEvent  # noqa: E402
from tests.factories import native_event  # noqa: E402

ADMIN_DSN = os.environ.get(
    "SHADOWGAP_BENCH_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("SHADOWGAP_BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
API_KEY = "bench-key"

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
        [sys.executable, "-m", "service.cli", "db", "upgrade"],
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
        servers.append(start_server("service.api.app:create_app", api_port, args.workers, env))
        # The same API with redaction off: the baseline of the redaction ratio.
        plain_port = free_port()
        plain_env = {**env, "SHADOWGAP_REDACT": ""}
        servers.append(
            start_server("service.api.app:create_app", plain_port, args.workers, plain_env)
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
        results["batch of 100, no redaction"] = run_wrk(
            f"http://127.0.0.1:{plain_port}", "/v1/events", 100, "p", **common
        )
        with psycopg.connect(ADMIN_DSN.rsplit("/", 1)[0] + f"/{name}") as conn:
            stored = conn.execute("SELECT count(*) FROM traffic_events").fetchone()[0]  # type: ignore[index]
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
    print(f"events stored in PostgreSQL during the run: {stored:,}")

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
