"""Soak: a fixed ingest rate for ten minutes with a worker and beat running; PASS only when
the rate is held, memory stays flat and nothing is lost.

Starts the real API (uvicorn, ``--api-workers`` processes, default 2: one per core of the
2-core machine the figures were taken on), a Celery worker (all queues, concurrency 2) and beat
against a PostgreSQL database of its own and Redis, with the recorded flagship (GSM8K answers)
and the shipped sampling defaults, so the worker re-runs, judges and runs the detectors on what
ingest samples. ``--senders`` threads (default 16) POST batches of ``--batch`` events, paced
together to ``--rate`` events/s (default 3,000: issue 24's target, a fixed rate, not a share of
what the machine managed) for ``--minutes`` (default 10); a sender that falls behind sends
without pausing until it has caught up. Event times follow the wall clock. A sender that gets
a 503 or 429 retries the same batch after ``Retry-After``, as a webhook sender would. Every
10 s the script samples the resident memory (RSS, whole process tree) of the API and of the
worker.

At the end it counts the stored events: every event in a 2xx batch must be stored exactly once.

PASS when all of these hold:
- the accepted rate over the run is >= 98% of ``--rate`` (accepted events / elapsed time; the
  rate of every whole minute and the senders' largest lag behind the schedule are printed too);
- after the warm-up (the first ``--warmup`` minutes), the largest RSS of the API and of the
  worker stays within 10% of its RSS at the end of the warm-up;
- nothing is lost: no batch failed for good (a 4xx/5xx other than a retried 503/429, or ten
  transport errors in a row), and the stored events equal the accepted ones, each once.
Prints the figures, the load average, and PASS/FAIL; exits 1 on FAIL. Not run in CI (it takes
ten minutes).

Usage: python benchmarks/soak.py [--rate 3000] [--minutes 10] [--warmup 2] [--batch 100]
                                [--senders 16] [--api-workers 2]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.factories import gsm8k_rows, native_event  # noqa: E402
from tests.support.processes import free_port, wait_healthy  # noqa: E402

ADMIN_DSN = os.environ.get(
    "SHADOWGAP_BENCH_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("SHADOWGAP_BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
GSM8K_CSV = ROOT.parent / "shared" / "data" / "routellm" / "gsm8k" / "gsm8k_responses.csv"
API_KEY = "soak-key"
TENANTS = ["acme", "globex", "initech", "umbrella", "hooli"]
MEMORY_TOLERANCE = 0.10
RATE_HELD = 0.98


def tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and all its descendants, in MB (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    total_kb, todo = 0, [pid]
    while todo:
        current = todo.pop()
        todo.extend(children.get(current, []))
        try:
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kb += int(line.split()[1])
        except OSError:
            continue
    return total_kb / 1024.0


def start(argv: list[str], env: dict[str, str], log: Path, cwd: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        argv,
        env=env,
        cwd=cwd,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


@dataclass
class Tally:
    """What the senders saw, shared between their threads (under ``lock``)."""

    sent: int = 0
    accepted: int = 0
    failed: int = 0
    retries: int = 0
    latencies: list[float] = field(default_factory=list)
    # (seconds since the start, events) of every accepted batch, for the per-minute rates.
    accepted_at: list[tuple[float, int]] = field(default_factory=list)
    max_lag: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)


def send(base: str, sender: int, args: argparse.Namespace, began: float, tally: Tally) -> None:
    """One sender's share of the traffic, paced to ``rate / senders`` events/s: never faster,
    and without pausing while behind the schedule (the lag is recorded)."""
    rows = len(gsm8k_rows())
    per_sender = args.rate / args.senders
    duration = args.minutes * 60.0
    sent = counter = 0
    with httpx.Client(timeout=60.0) as client:
        while time.monotonic() - began < duration:
            batch = []
            now = datetime.now(UTC)
            for _ in range(args.batch):
                counter += 1
                batch.append(
                    native_event(
                        f"soak-{began:.0f}-{sender}-{counter}",
                        row=counter % rows,
                        at=now,
                        tenant=TENANTS[counter % 7 % len(TENANTS)],
                        tier="cheap" if counter % 3 else "flagship",
                    )
                )
            accepted = failed = retries = 0
            latency = None
            for _attempt in range(10):
                started = time.monotonic()
                try:
                    response = client.post(
                        f"{base}/v1/events",
                        json=batch,
                        headers={"Authorization": f"Bearer {API_KEY}"},
                    )
                except httpx.HTTPError:
                    retries += 1
                    time.sleep(1.0)
                    continue
                if response.status_code in (429, 503):
                    retries += 1
                    time.sleep(float(response.headers.get("Retry-After", "1")))
                    continue
                if response.status_code < 300:
                    accepted = len(batch)
                    latency = time.monotonic() - started
                else:
                    failed = len(batch)
                break
            else:
                failed = len(batch)
            sent += len(batch)
            behind = (time.monotonic() - began) - sent / per_sender
            with tally.lock:
                tally.sent += len(batch)
                tally.accepted += accepted
                tally.failed += failed
                tally.retries += retries
                if latency is not None:
                    tally.latencies.append(latency)
                    tally.accepted_at.append((time.monotonic() - began, accepted))
                tally.max_lag = max(tally.max_lag, behind)
            if behind < 0:
                time.sleep(-behind)


def minute_rates(tally: Tally, minutes: float) -> list[float]:
    """Accepted events/s in each whole minute of the run."""
    counts = [0] * int(minutes)
    for at, events in tally.accepted_at:
        if int(at // 60) < len(counts):
            counts[int(at // 60)] += events
    return [count / 60.0 for count in counts]


def settled_count(dsn: str) -> tuple[int, int]:
    """Stored events and distinct event ids, once two reads a second apart agree (an
    accepted batch may still be in a commit when the last response arrives)."""
    previous = None
    for _ in range(30):
        with psycopg.connect(dsn) as conn:
            row = conn.execute(
                "SELECT count(*), count(DISTINCT event_id) FROM traffic_events"
            ).fetchone()
        current = (int(row[0]), int(row[1])) if row else (0, 0)
        if current == previous:
            return current
        previous = current
        time.sleep(1.0)
    return previous or (0, 0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=3000.0, help="events per second")
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--batch", type=int, default=100, help="events per request")
    parser.add_argument("--senders", type=int, default=16, help="concurrent client threads")
    parser.add_argument("--api-workers", type=int, default=2, help="uvicorn worker processes")
    args = parser.parse_args()

    name = f"shadowgap_soak_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    database_url = (
        ADMIN_DSN.replace("postgresql://", "postgresql+psycopg://").rsplit("/", 1)[0] + f"/{name}"
    )
    workdir = Path(tempfile.mkdtemp(prefix="shadowgap-soak-"))
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "SHADOWGAP_DATABASE_URL": database_url,
        "SHADOWGAP_BROKER_URL": REDIS_URL,
        "SHADOWGAP_API_KEYS": API_KEY,
        "SHADOWGAP_FLAGSHIP_CLIENT": "recorded",
        "SHADOWGAP_RECORDED_ANSWERS_PATH": str(GSM8K_CSV),
        "SHADOWGAP_LOG_LEVEL": "WARNING",
    }
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()
    subprocess.run(
        [sys.executable, "-m", "shadowgap.cli.main", "db", "upgrade"], env=env, cwd=ROOT, check=True
    )
    port = free_port()
    processes = {
        "api": start(
            [
                sys.executable,
                "-m",
                "shadowgap.cli.main",
                "serve",
                "--port",
                str(port),
                "--workers",
                str(args.api_workers),
            ],
            env,
            workdir / "api.log",
            ROOT,
        ),
        "worker": start(
            [sys.executable, "-m", "shadowgap.cli.main", "worker", "--concurrency", "2"],
            env,
            workdir / "worker.log",
            ROOT,
        ),
    }
    beat = start(
        [sys.executable, "-m", "shadowgap.cli.main", "beat"], env, workdir / "beat.log", workdir
    )
    base = f"http://127.0.0.1:{port}"
    samples: list[tuple[float, float, float]] = []  # (elapsed s, api MB, worker MB)
    tally = Tally()
    load_before = os.getloadavg()
    try:
        if not wait_healthy(base, timeout=120):
            raise RuntimeError("the API did not start")
        duration = args.minutes * 60.0
        began = time.monotonic()
        senders = [
            threading.Thread(target=send, args=(base, n, args, began, tally), daemon=True)
            for n in range(args.senders)
        ]
        for sender in senders:
            sender.start()
        while (elapsed := time.monotonic() - began) < duration:
            samples.append(
                (
                    elapsed,
                    tree_rss_mb(processes["api"].pid),
                    tree_rss_mb(processes["worker"].pid),
                )
            )
            time.sleep(10.0)
        for sender in senders:
            sender.join(timeout=120)
        achieved = tally.accepted / (time.monotonic() - began)
        load_after = os.getloadavg()
        stored, distinct = settled_count(ADMIN_DSN.rsplit("/", 1)[0] + f"/{name}")
    finally:
        for process in [*processes.values(), beat]:
            process.terminate()
            process.wait(timeout=60)
        with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    after = [s for s in samples if s[0] >= args.warmup * 60.0]
    if not after:
        print("FAIL: no memory sample after the warm-up")
        return 1
    base_api, base_worker = after[0][1], after[0][2]
    peak_api = max(s[1] for s in after)
    peak_worker = max(s[2] for s in after)
    api_growth = peak_api / base_api - 1.0
    worker_growth = peak_worker / base_worker - 1.0
    print(
        f"soak: {args.minutes:g} min at {args.rate:,.0f} events/s asked, warm-up "
        f"{args.warmup:g} min, batches of {args.batch}, {args.senders} senders, "
        f"{args.api_workers} API processes, a worker (concurrency 2) and beat"
    )
    print(
        f"load average (1 min) {load_before[0]:.2f} at the start, {load_after[0]:.2f} at the "
        f"end, on {os.cpu_count()} CPUs"
    )
    print(
        f"events sent {tally.sent}, accepted {tally.accepted}, failed {tally.failed}, "
        f"stored {stored} ({distinct} distinct), retried batches {tally.retries}"
    )
    held = achieved / args.rate
    print(
        f"accepted rate {achieved:,.0f} events/s = {held:.1%} of the {args.rate:,.0f} asked "
        f"(target >= {RATE_HELD:.0%}); senders' largest lag behind the schedule "
        f"{tally.max_lag:.1f} s"
    )
    per_minute = minute_rates(tally, args.minutes)
    if per_minute:
        print(
            "accepted events/s per minute: "
            + ", ".join(f"{rate:,.0f}" for rate in per_minute)
            + f" (lowest {min(per_minute) / args.rate:.1%} of the asked rate)"
        )
    if tally.latencies:
        ordered = sorted(tally.latencies)
        print(
            f"batch latency p50 {ordered[len(ordered) // 2] * 1000:.0f} ms, "
            f"p99 {ordered[int(len(ordered) * 0.99)] * 1000:.0f} ms"
        )
    for elapsed, api_mb, worker_mb in samples:
        print(f"  t={elapsed:6.0f}s  api {api_mb:7.1f} MB  worker {worker_mb:7.1f} MB")
    print(
        f"api RSS after warm-up {base_api:.1f} MB, peak {peak_api:.1f} MB "
        f"({api_growth:+.1%}, limit +{MEMORY_TOLERANCE:.0%})"
    )
    print(
        f"worker RSS after warm-up {base_worker:.1f} MB, peak {peak_worker:.1f} MB "
        f"({worker_growth:+.1%}, limit +{MEMORY_TOLERANCE:.0%})"
    )
    checks = {
        f"rate held >= {RATE_HELD:.0%}": held >= RATE_HELD,
        "memory flat": api_growth <= MEMORY_TOLERANCE and worker_growth <= MEMORY_TOLERANCE,
        "nothing lost": tally.failed == 0 and stored == distinct == tally.accepted,
    }
    for label, ok in checks.items():
        print(f"{label}: {'PASS' if ok else 'FAIL'}")
    ok = all(checks.values())
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
