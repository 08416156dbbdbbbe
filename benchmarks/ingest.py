"""Ingest throughput and latency into PostgreSQL, next to an empty FastAPI endpoint, and how
ingest scales out to a second API process.

Starts the real API (uvicorn, one process each, PostgreSQL database of its own, Redis broker)
and an empty FastAPI app with the same server settings, drives them with wrk (Debian's `wrk`
package: 1 thread, 16 connections) and prints requests/s, events/s, p50 and p99 latency, and
checks the targets of issue 24 (PASS/FAIL each; exit 1 on any FAIL):

    batched ingest (100 events a request), one API process     >= 6,000 events/s
    single-event ingest req/s / empty endpoint req/s            >= 0.30
    single-event ingest p99 at 16 connections                   <= 50 ms
    two API processes / one, batched events/s, each process
      under the same CPU quota                                  >= 1.8
    lock waits of one API process's transactions on the
      other's, sampled from pg_locks during the two-process run  = 0
    OTLP spans/s / native batched events/s                      >= 0.5
    batched events/s with PII redaction (default) / without     >= 0.60
    no non-2xx response or socket error in any run (wrk timeout 30 s)

Scale-out set-up: each of the two API processes runs in a cgroup of its own with a CFS quota
of ``--quota`` CPUs (default 0.5: 50 ms of CPU per 100 ms period), so the two together hold
one of the machine's two cores and leave the other to PostgreSQL, Redis and wrk. The rate of
one such process is measured alone before and after the pair (the baseline is their mean),
and the pair is driven by two wrk processes at once, each with the same connections as the
single run. Every 50 ms a sampler reads pg_locks for ungranted locks in the benchmark's
database, with pg_blocking_pids naming who holds them; each API process connects with its
own application_name (PGAPPNAME), so a wait of one process on the other is told apart from a
wait between two connections of the same process (both are printed; the target counts the
first). The CPU each quota-held process used during each run is printed (from /proc): near the
quota, the quota was the limit; well under it, the shared machine was. Needs root for the
cgroups (cgroup v1 cpu controller or cgroup v2).

The OTLP run posts uncompressed ExportTraceServiceRequest protobufs of 100 LLM spans (GenAI
semantic conventions, the same GSM8K prompt and answer as the native events) to /v1/traces; wrk
rewrites the trace id of each request so that every span is new. The redaction cost per event
is also measured in-process (microseconds, on GSM8K prompts with and without PII in them).

The machine's load average is printed with the figures: the ratios are measured in the same
run and are what the targets compare.

Usage: python benchmarks/ingest.py [--seconds 10] [--connections 16] [--quota 0.5] [--quick]
                                   [--batched-only]
       python benchmarks/ingest.py --only single [--repeat 3] [--profile OUT]
  --quick: 5 s a run instead of 10 (a local check; the figures are noisier)
  --only single: the empty endpoint and single-event ingest only, alternated --repeat times;
    the single-event targets are judged on the rounds' medians (no cgroups needed)
  --profile OUT: with --only single, the API runs with its stages timed (thread CPU clock) and
    the CPU per request of each stage is printed (benchmarks/profiled_api.py)
  --batched-only: only the batched run (and its target), with the CPU the API process and
    the database's PostgreSQL backends spent per event (from /proc): robust to a shared
    machine's load, where the rate is not
  --prefill N (with --batched-only): N copies of the benchmark's event (new ids, same event
    time, so the same day partition) stored before the run, the first 1,000 through the API:
    on a quiet machine the batched run follows the single-event run (whose requests prepare
    the server's statements on a small table) and stores ~45,000 events in that partition,
    which a slow loaded run would not reach
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.proc_cpu import (  # noqa: E402
    cgroup_quota_available,
    cpu_quota_group,
    cpu_seconds,
    join,
    thread_cpu_seconds,
)
from benchmarks.profiled_api import stage_table  # noqa: E402
from shadowgap.privacy.events import redact_batch  # noqa: E402
from shadowgap.privacy.redaction import KINDS, redactor  # noqa: E402
from shadowgap.schemas import TrafficEvent  # noqa: E402
from tests.support.factories import native_event  # noqa: E402
from tests.support.processes import free_port, wait_healthy  # noqa: E402

ADMIN_DSN = os.environ.get(
    "SHADOWGAP_BENCH_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("SHADOWGAP_BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
API_KEY = "bench-key"
BATCHED_TARGET = 6_000.0
SINGLE_RATIO_TARGET = 0.30
SINGLE_P99_TARGET_MS = 50.0
SCALE_OUT_TARGET = 1.8
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


def start_server(
    app: str,
    port: int,
    workers: int,
    env: dict[str, str],
    preexec_fn: Callable[[], None] | None = None,
    cwd: Path = ROOT,
) -> subprocess.Popen[bytes]:
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
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        preexec_fn=preexec_fn,
    )
    if wait_healthy(f"http://127.0.0.1:{port}"):
        return proc
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
        # wrk's default 2 s timeout would drop a slow batch's latency from the percentiles.
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{seconds}s",
            "--timeout",
            "30s",
            "--latency",
            "-s",
            handle.name,
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    os.unlink(handle.name)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    # "Socket errors: connect 0, read 0, write 0, timeout 0": a failed request too.
    broken = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    socket_errors = sum(int(n) for n in broken.groups()) if broken else 0
    return {
        "requests_per_s": rps,
        "events_per_s": rps * per_request,
        "p50_ms": _latency(out, "50%"),
        "p99_ms": _latency(out, "99%"),
        "errors": (float(non2xx.group(1)) if non2xx else 0.0) + socket_errors,
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


LOCK_WAITS_SQL = """
SELECT waiter.application_name, holder.application_name
FROM pg_locks AS wanted
JOIN pg_stat_activity AS waiter ON waiter.pid = wanted.pid
CROSS JOIN LATERAL unnest(pg_blocking_pids(wanted.pid)) AS blocking(pid)
JOIN pg_stat_activity AS holder ON holder.pid = blocking.pid
WHERE NOT wanted.granted AND waiter.datname = current_database()
"""


@dataclass
class LockWaits:
    samples: int = 0
    samples_waiting: int = 0
    between_processes: int = 0
    within_a_process: int = 0


def sample_lock_waits(dsn: str, stop: threading.Event, into: LockWaits) -> None:
    """Every 50 ms, the ungranted locks of the benchmark's database and who holds them."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        while not stop.wait(0.05):
            rows = conn.execute(LOCK_WAITS_SQL).fetchall()
            into.samples += 1
            into.samples_waiting += bool(rows)
            for waiter, holder in rows:
                if waiter == holder:
                    into.within_a_process += 1
                else:
                    into.between_processes += 1


@dataclass
class ScaleOut:
    one: list[dict[str, float]]
    two: list[dict[str, float]]
    locks: LockWaits

    @property
    def ratio(self) -> float:
        baseline = sum(run["events_per_s"] for run in self.one) / len(self.one)
        if baseline == 0:
            return 0.0  # no batch completed alone: nothing to scale, a FAIL
        return sum(run["events_per_s"] for run in self.two) / baseline


def scale_out(
    env: dict[str, str], dsn: str, quota: float, seconds: int, connections: int
) -> ScaleOut:
    """One quota-held API process alone, then two at once, then the first alone again."""
    with ExitStack() as stack:
        ports, servers = [], []
        for name in ("a", "b"):
            procs = stack.enter_context(cpu_quota_group(f"shadowgap-bench-api-{name}", quota))
            port = free_port()
            server = start_server(
                "shadowgap.api.app:create_app",
                port,
                1,
                {**env, "PGAPPNAME": f"shadowgap-bench-api-{name}"},
                preexec_fn=join(procs),
            )
            stack.callback(_stop, server)
            ports.append(port)
            servers.append(server)

        def metered(index: int, tag: str) -> dict[str, float]:
            """A batched wrk run against one process, with the CPU that process used (cores):
            near the quota, the quota was what held it back; well under, the machine was."""
            url = f"http://127.0.0.1:{ports[index]}"
            before, started = cpu_seconds(servers[index].pid) or 0.0, time.monotonic()
            result = run_wrk(url, "/v1/events", 100, tag, seconds, connections)
            used = (cpu_seconds(servers[index].pid) or 0.0) - before
            return {**result, "cpu_cores": used / (time.monotonic() - started)}

        one = [metered(0, "q1")]
        locks, stop = LockWaits(), threading.Event()
        sampler = threading.Thread(target=sample_lock_waits, args=(dsn, stop, locks))
        sampler.start()
        two: list[dict[str, float]] = [{}, {}]

        def drive(index: int) -> None:
            two[index] = metered(index, f"q2{index}")

        drivers = [threading.Thread(target=drive, args=(index,)) for index in (0, 1)]
        for driver in drivers:
            driver.start()
        for driver in drivers:
            driver.join()
        stop.set()
        sampler.join()
        one.append(metered(0, "q3"))
    return ScaleOut(one=one, two=two, locks=locks)


def _stop(server: subprocess.Popen[bytes]) -> None:
    server.terminate()
    server.wait(timeout=30)


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min) on {os.cpu_count()} CPUs"


def create_database() -> tuple[str, str, dict[str, str]]:
    """A fresh, migrated PostgreSQL database: (name, libpq DSN, the servers' environment)."""
    name = f"shadowgap_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    dsn = ADMIN_DSN.rsplit("/", 1)[0] + f"/{name}"
    env = {
        **os.environ,
        "SHADOWGAP_DATABASE_URL": dsn.replace("postgresql://", "postgresql+psycopg://"),
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
    return name, dsn, env


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def group_totals(url: str) -> tuple[float, float]:
    """(requests, groups) the API's group-commit writer has stored so far (its /metrics)."""
    text = httpx.get(f"{url}/metrics", timeout=10).text
    found = dict(
        re.findall(r"^shadowgap_ingest_group_requests_(sum|count) ([\d.e+]+)$", text, re.M)
    )
    return float(found.get("sum", 0)), float(found.get("count", 0))


def _single_run(api: str, pid: int, tag: str, seconds: int, connections: int) -> dict[str, float]:
    """One single-event wrk run with the API process's CPU per request (its event loop's thread
    and its other threads, from /proc) and the writer's mean group size (from /metrics)."""
    loop_before, others_before = thread_cpu_seconds(pid)
    grouped_before, groups_before = group_totals(api)
    run = run_wrk(api, "/v1/events", 1, tag, seconds, connections)
    loop_after, others_after = thread_cpu_seconds(pid)
    grouped_after, groups_after = group_totals(api)
    run["group_size"] = (grouped_after - grouped_before) / max(groups_after - groups_before, 1)
    answered = max(run["requests_per_s"] * seconds, 1)
    run["loop_cpu_us"] = (loop_after - loop_before) / answered * 1e6
    run["threads_cpu_us"] = (others_after - others_before) / answered * 1e6
    return run


def _describe(label: str, run: dict[str, float], empty: dict[str, float]) -> str:
    return (
        f"  {label}: {run['requests_per_s']:,.0f} req/s (ratio "
        f"{run['requests_per_s'] / empty['requests_per_s']:.3f}), p50 {run['p50_ms']:.1f} ms, "
        f"p99 {run['p99_ms']:.1f} ms, {run['group_size']:.1f} requests a group, API CPU "
        f"{run['loop_cpu_us'] + run['threads_cpu_us']:.0f} us/request (event loop thread "
        f"{run['loop_cpu_us']:.0f}, other threads {run['threads_cpu_us']:.0f})"
    )


def single_only(args: argparse.Namespace, seconds: int) -> None:
    """The empty endpoint and single-event ingest (and the baseline checkout's, with
    --baseline), alternated ``--repeat`` times in one run; each round's ratios are printed and
    the targets are judged on this checkout's medians."""
    databases = [create_database()]
    if args.baseline:
        databases.append(create_database())
    rounds: list[dict[str, dict[str, float]]] = []
    profile_out = os.path.abspath(args.profile) if args.profile else None
    print(f"start: {load()}", flush=True)
    try:
        with ExitStack() as stack:
            empty_port = free_port()
            stack.callback(
                _stop,
                start_server("benchmarks.empty_app:create_app", empty_port, 1, databases[0][2]),
            )
            apis: dict[str, tuple[str, int]] = {}
            for label, (_, _, env) in zip(("this", "baseline"), databases, strict=False):
                # /metrics without a read key: the benchmark reads the writer's group sizes.
                server_env, app, cwd = {**env, "SHADOWGAP_METRICS_PUBLIC": "true"}, None, ROOT
                app = "shadowgap.api.app:create_app"
                if label == "baseline":
                    cwd = Path(args.baseline).resolve()
                    server_env["PYTHONPATH"] = f"{cwd}{os.pathsep}{ROOT}"
                elif profile_out:
                    app = "benchmarks.profiled_api:create_app"
                    server_env["SHADOWGAP_PROFILE_OUT"] = profile_out
                port = free_port()
                server = start_server(app, port, 1, server_env, cwd=cwd)
                stack.callback(_stop, server)
                apis[label] = (f"http://127.0.0.1:{port}", server.pid)
            for index in range(args.repeat):
                found = {
                    "empty": run_wrk(
                        f"http://127.0.0.1:{empty_port}",
                        "/empty",
                        1,
                        "e",
                        seconds,
                        args.connections,
                    )
                }
                for label, (url, pid) in apis.items():
                    found[label] = _single_run(
                        url, pid, f"{label[0]}{index}", seconds, args.connections
                    )
                rounds.append(found)
                print(
                    f"round {index + 1}: empty endpoint "
                    f"{found['empty']['requests_per_s']:,.0f} req/s; {load()}"
                )
                for label in apis:
                    print(_describe(label, found[label], found["empty"]), flush=True)
        with psycopg.connect(databases[0][1]) as conn:
            stored = conn.execute("SELECT count(*) FROM traffic_events").fetchone()[0]  # type: ignore[index]
    finally:
        with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
            for name, _, _ in databases:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    answered = sum(found["this"]["requests_per_s"] * seconds for found in rounds)
    print(f"events stored: {stored:,} (about {answered:,.0f} requests answered 2xx)")
    if profile_out:
        print(f"\nCPU per request by stage ({stored:,} requests; each thread's CPU clock)")
        for where, label, us in stage_table(profile_out, stored):
            print(f"{where:<8}{label:<52}{us:>10.1f}")
    ratios = [
        found["this"]["requests_per_s"] / found["empty"]["requests_per_s"] for found in rounds
    ]
    p99s = [found["this"]["p99_ms"] for found in rounds]
    errors = sum(run["errors"] for found in rounds for run in found.values())
    if args.baseline:
        before = [
            found["baseline"]["requests_per_s"] / found["empty"]["requests_per_s"]
            for found in rounds
        ]
        print(
            f"baseline ({args.baseline}): median ratio {_median(before):.3f}, median p99 "
            f"{_median([found['baseline']['p99_ms'] for found in rounds]):.1f} ms"
        )
    checks = [
        (
            "single-event req/s / empty endpoint req/s, median",
            _median(ratios),
            _median(ratios) >= SINGLE_RATIO_TARGET,
            f">= {SINGLE_RATIO_TARGET:.2f}",
        ),
        (
            "single-event p99 ms at 16 connections, median",
            _median(p99s),
            _median(p99s) <= SINGLE_P99_TARGET_MS,
            f"<= {SINGLE_P99_TARGET_MS:.0f}",
        ),
        ("non-2xx responses and socket errors", int(errors), errors == 0, "= 0"),
    ]
    print_targets(checks)


def print_targets(checks: list[tuple[str, float | int, bool, str]]) -> None:
    """The targets' table (figure, target, PASS/FAIL each); exit 1 on any FAIL."""
    print(f"\n{'target':<52}{'figure':>12}  {'target':<10}verdict")
    for label, figure, ok, target in checks:
        shown = f"{figure:,.2f}" if isinstance(figure, float) else f"{figure:,}"
        print(f"{label:<52}{shown:>12}  {target:<10}{'PASS' if ok else 'FAIL'}")
    if not all(ok for _, _, ok, _ in checks):
        sys.exit(1)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument(
        "--quota", type=float, default=0.5, help="CPUs per API process in the scale-out run"
    )
    parser.add_argument("--quick", action="store_true", help="5 s a run")
    parser.add_argument(
        "--only",
        choices=["single"],
        help="single: only the empty endpoint and single-event ingest, alternated --repeat times",
    )
    parser.add_argument("--repeat", type=int, default=3, help="rounds of --only single")
    parser.add_argument(
        "--baseline",
        metavar="DIR",
        help="with --only single: also run the single-event load against the API of another "
        "checkout (DIR holds its shadowgap/ package, e.g. from `git archive main shadowgap`) in "
        "every round, on a database of its own, so before and after share the conditions",
    )
    parser.add_argument(
        "--profile",
        metavar="OUT",
        help="with --only single: time the API's stages (benchmarks/profiled_api.py), write "
        "the totals to OUT (JSON) and print CPU per request by stage",
    )
    parser.add_argument("--batched-only", action="store_true", help="only the batched run")
    parser.add_argument("--prefill", type=int, default=0, help="events stored first")
    args = parser.parse_args()
    seconds = 5 if args.quick else args.seconds
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed: apt-get install wrk")
    if args.only == "single":
        single_only(args, seconds)
        return
    if args.batched_only:
        batched_only(seconds, args.connections, args.prefill)
        return
    if not cgroup_quota_available():
        sys.exit("the scale-out run needs a writable cgroup cpu controller (run as root)")

    name, dsn, env = create_database()
    results: dict[str, dict[str, float]] = {}
    print(f"start: {load()}", flush=True)
    try:
        with ExitStack() as stack:
            empty_port, api_port, plain_port = free_port(), free_port(), free_port()
            for app, port, server_env in (
                ("benchmarks.empty_app:create_app", empty_port, env),
                ("shadowgap.api.app:create_app", api_port, env),
                # The same API with redaction off: the baseline of the redaction ratio.
                ("shadowgap.api.app:create_app", plain_port, {**env, "SHADOWGAP_REDACT": ""}),
            ):
                stack.callback(_stop, start_server(app, port, 1, server_env))
            common = {"seconds": seconds, "connections": args.connections}
            api = f"http://127.0.0.1:{api_port}"
            results["empty endpoint"] = run_wrk(
                f"http://127.0.0.1:{empty_port}", "/empty", 1, "e", **common
            )
            results["ingest, 1 event"] = run_wrk(api, "/v1/events", 1, "s", **common)
            results["ingest, batch of 100"] = run_wrk(api, "/v1/events", 100, "b", **common)
            results["OTLP, 100 spans"] = run_wrk_otlp(api, 100, **common)
            results["batch of 100, no redaction"] = run_wrk(
                f"http://127.0.0.1:{plain_port}", "/v1/events", 100, "p", **common
            )
        print(f"after the single-process runs: {load()}", flush=True)
        scaled = scale_out(env, dsn, args.quota, seconds, args.connections)
        print(f"after the scale-out runs: {load()}", flush=True)
        with psycopg.connect(dsn) as conn:
            stored = conn.execute("SELECT count(*) FROM traffic_events").fetchone()[0]  # type: ignore[index]
            stored_otlp = conn.execute(
                "SELECT count(*) FROM traffic_events WHERE source_format = 'otlp'"
            ).fetchone()[0]  # type: ignore[index]
    finally:
        with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    for label, run in (
        ("1 process (quota), before", scaled.one[0]),
        ("2 processes: first", scaled.two[0]),
        ("2 processes: second", scaled.two[1]),
        ("1 process (quota), after", scaled.one[1]),
    ):
        results[label] = run
    report(results, scaled, stored, stored_otlp, seconds, args)


def _backends_cpu(dsn: str) -> float:
    """CPU seconds so far of the PostgreSQL backends connected to the database of ``dsn``."""
    with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
        query = "SELECT pid FROM pg_stat_activity WHERE datname = %s"
        pids = [pid for (pid,) in admin.execute(query, (dsn.rsplit("/", 1)[1],))]
    return sum(cpu_seconds(pid) or 0.0 for pid in pids)


# Copies of the first stored event under new ids (the columns' defaults give the rest).
PREFILL_SQL = """
INSERT INTO traffic_events (event_id, segment_id, source_format, occurred_at, received_at,
  route_tier, route_model, route_score, route_reason, is_cheap, request, prompt_hash, answer,
  latency_ms, ttft_ms, prompt_tokens, completion_tokens, cost_usd, status, refused,
  escalated, attributes)
SELECT 'prefill-sql-' || n, segment_id, source_format, occurred_at, received_at, route_tier,
  route_model, route_score, route_reason, is_cheap, request, prompt_hash, answer, latency_ms,
  ttft_ms, prompt_tokens, completion_tokens, cost_usd, status, refused, escalated, attributes
FROM (SELECT * FROM traffic_events ORDER BY id LIMIT 1) AS first, generate_series(1, %s) AS n
"""


def _prefill(url: str, dsn: str, events: int) -> None:
    """``events`` stored in the benchmark event's day partition before the run. The first
    ones go through the API, as the single-event run's do in a full run: the server prepares
    its statements (and PostgreSQL caches their plans) while the table is small."""
    headers = {"Authorization": f"Bearer {API_KEY}"}
    for batch in range(10):
        body = [native_event(f"prefill-{batch}-{i}") for i in range(100)]
        httpx.post(f"{url}/v1/events", json=body, headers=headers, timeout=60).raise_for_status()
    with psycopg.connect(dsn) as conn:
        conn.execute(PREFILL_SQL, (max(events - 1000, 0),))


def _stored(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        return int(conn.execute("SELECT count(*) FROM traffic_events").fetchone()[0])  # type: ignore[index]


def batched_only(seconds: int, connections: int, prefill: int = 0) -> None:
    """The batched run alone, with the API process's and PostgreSQL's CPU per event."""
    name, dsn, env = create_database()
    print(f"start: {load()}", flush=True)
    try:
        port = free_port()
        server = start_server("shadowgap.api.app:create_app", port, 1, env)
        try:
            if prefill:
                _prefill(f"http://127.0.0.1:{port}", dsn, prefill)
            stored_before = _stored(dsn)
            api0, db0 = cpu_seconds(server.pid) or 0.0, _backends_cpu(dsn)
            run = run_wrk(f"http://127.0.0.1:{port}", "/v1/events", 100, "b", seconds, connections)
            api = (cpu_seconds(server.pid) or 0.0) - api0
            database = _backends_cpu(dsn) - db0
        finally:
            _stop(server)
        stored = _stored(dsn) - stored_before
    finally:
        with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    print(f"end: {load()}; {stored_before:,} events stored before the run")
    # Per stored event: what a run spent over what it stored (wrk's last responses may
    # not be counted in its rate, so the rate is not used here).
    print(
        f"batched ingest (100 events a request), one API process, {connections} connections, "
        f"{seconds}s: {run['events_per_s']:,.0f} events/s, p50 {run['p50_ms']:.1f} ms, p99 "
        f"{run['p99_ms']:.1f} ms, {run['errors']:.0f} errors; {stored:,} events stored"
    )
    print(
        f"CPU per stored event: API process {1e6 * api / max(stored, 1):.0f} us, PostgreSQL "
        f"backends {1e6 * database / max(stored, 1):.0f} us (2 cores: "
        f"{2e6 / max(1e6 * (api + database) / max(stored, 1), 1e-9):,.0f} events/s if nothing "
        "else ran)"
    )
    ok = run["events_per_s"] >= BATCHED_TARGET and run["errors"] == 0
    print(
        f"batched ingest, one API process, events/s {run['events_per_s']:>12,.2f}  "
        f">= {BATCHED_TARGET:,.0f} {'PASS' if ok else 'FAIL'}"
    )
    if not ok:
        sys.exit(1)


def report(
    results: dict[str, dict[str, float]],
    scaled: ScaleOut,
    stored: int,
    stored_otlp: int,
    seconds: int,
    args: argparse.Namespace,
) -> None:
    print(
        f"\nPOST /v1/events into PostgreSQL; wrk, 1 thread, {args.connections} connections, "
        f"{seconds}s each; one uvicorn process per server; 2-core machine shared with the "
        "load generator, PostgreSQL and Redis (and whatever else runs: see the load above)"
    )
    print(f"{'run':<28}{'req/s':>10}{'events/s':>11}{'p50 ms':>9}{'p99 ms':>9}{'errors':>9}")
    for label, row in results.items():
        print(
            f"{label:<28}{row['requests_per_s']:>10,.0f}{row['events_per_s']:>11,.0f}"
            f"{row['p50_ms']:>9.2f}{row['p99_ms']:>9.2f}{row['errors']:>9.0f}"
        )
    print(f"events stored in PostgreSQL during the run: {stored:,} (from OTLP: {stored_otlp:,})")

    single, batched = results["ingest, 1 event"], results["ingest, batch of 100"]
    empty = results["empty endpoint"]
    otlp, plain = results["OTLP, 100 spans"], results["batch of 100, no redaction"]
    clean_us = redaction_cost_us(sample_events(500, with_pii=False))
    pii_us = redaction_cost_us(sample_events(500, with_pii=True))
    print(
        f"\nPII redaction (every kind, the default): {clean_us:.0f} us/event on GSM8K prompts, "
        f"{pii_us:.0f} us/event with an e-mail, card and phone in each prompt (in-process); "
        f"ingest without redaction takes {1e6 / plain['events_per_s']:.0f} us/event "
        "(1 / batched events/s)"
    )
    locks = scaled.locks
    print(
        f"\nscale-out: each API process in a cgroup of {args.quota:g} CPU (CFS quota); "
        f"one alone {scaled.one[0]['events_per_s']:,.0f} and {scaled.one[1]['events_per_s']:,.0f}"
        f" events/s (before, after), two at once "
        f"{scaled.two[0]['events_per_s'] + scaled.two[1]['events_per_s']:,.0f} events/s"
    )
    print(
        f"CPU used by the quota-held processes, in cores (quota {args.quota:g} each): alone "
        f"{scaled.one[0]['cpu_cores']:.2f}, the pair {scaled.two[0]['cpu_cores']:.2f} + "
        f"{scaled.two[1]['cpu_cores']:.2f}, alone again {scaled.one[1]['cpu_cores']:.2f}"
    )
    print(
        f"lock waits sampled every 50 ms during the two-process run: {locks.samples} samples, "
        f"{locks.samples_waiting} with a waiting backend; waits of one process on the other: "
        f"{locks.between_processes}, between connections of the same process: "
        f"{locks.within_a_process}"
    )
    checks = [
        (
            "batched ingest, one API process, events/s",
            batched["events_per_s"],
            batched["events_per_s"] >= BATCHED_TARGET,
            f">= {BATCHED_TARGET:,.0f}",
        ),
        (
            "single-event ingest req/s / empty endpoint req/s",
            single["requests_per_s"] / empty["requests_per_s"],
            single["requests_per_s"] / empty["requests_per_s"] >= SINGLE_RATIO_TARGET,
            f">= {SINGLE_RATIO_TARGET:.2f}",
        ),
        (
            "single-event ingest p99 ms, 16 connections",
            single["p99_ms"],
            single["p99_ms"] <= SINGLE_P99_TARGET_MS,
            f"<= {SINGLE_P99_TARGET_MS:.0f}",
        ),
        (
            "two quota-held API processes / one, events/s",
            scaled.ratio,
            scaled.ratio >= SCALE_OUT_TARGET,
            f">= {SCALE_OUT_TARGET:.1f}",
        ),
        (
            "lock waits of one API process on the other",
            locks.between_processes,
            locks.between_processes == 0 and locks.samples > 0,
            "= 0",
        ),
        (
            "OTLP spans/s / native batched events/s",
            otlp["events_per_s"] / batched["events_per_s"],
            otlp["events_per_s"] / batched["events_per_s"] >= OTLP_RATIO_TARGET,
            f">= {OTLP_RATIO_TARGET:.2f}",
        ),
        (
            "batched events/s with redaction / without",
            batched["events_per_s"] / plain["events_per_s"],
            batched["events_per_s"] / plain["events_per_s"] >= REDACTION_TARGET,
            f">= {REDACTION_TARGET:.2f}",
        ),
        (
            "non-2xx responses and socket errors, all runs",
            int(sum(row["errors"] for row in results.values())),
            all(row["errors"] == 0 for row in results.values()),
            "= 0",
        ),
    ]
    print_targets(checks)


if __name__ == "__main__":
    main()
