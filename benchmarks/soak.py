"""Soak: ten minutes of ingest at the benchmark rate with workers running; memory must stay flat.

Starts the real API (uvicorn, ``--api-workers`` processes), a Celery worker (all queues) and
beat against a PostgreSQL database of its own and Redis, with the recorded flagship (GSM8K
answers) and the shipped sampling defaults. It first calibrates: ``--calibrate`` seconds
(default 60) of batches sent as fast as the API answers, from ``--senders`` concurrent
connections (default 16, as ``benchmarks/ingest.py`` drives wrk; the API runs 2 workers by
default, the set-up in which that benchmark meets 3,000 events/s without workers). Then it
POSTs batches at ``--rate`` events/s for ``--minutes`` (default 10); by default the rate is 80%
of the calibrated one, i.e. the machine's own benchmark rate with the workers sharing its
cores (``--rate 3000`` asks for the ingest benchmark's target instead). Event times follow
the wall clock. A sender that gets a
503 or 429 retries the same batch after ``Retry-After``, as a webhook sender would. Every 10 s
the script samples the resident memory (RSS, whole process tree) of the API and of the worker.

At the end it counts the stored events: every event in a 2xx batch must be stored exactly once.

PASS when, after the warm-up (the first ``--warmup`` minutes), the largest RSS of each stays
within 10% of its RSS at the end of the warm-up, no batch failed for good (a 4xx/5xx other than
a retried 503/429, or a transport error), the stored events equal the accepted ones, and the
achieved rate was at least 90% of the asked one. Prints the figures and PASS/FAIL; exits 1 on
FAIL. Not run in CI (it takes ten minutes).

Usage: python benchmarks/soak.py [--minutes 10] [--warmup 2] [--rate N] [--calibrate 60]
                                [--batch 100] [--senders 16] [--api-workers 2]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.factories import gsm8k_rows, native_event  # noqa: E402

ADMIN_DSN = os.environ.get(
    "SHADOWGAP_BENCH_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("SHADOWGAP_BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
GSM8K_CSV = ROOT.parent / "shared" / "data" / "routellm" / "gsm8k" / "gsm8k_responses.csv"
API_KEY = "soak-key"
TENANTS = ["acme", "globex", "initech", "umbrella", "hooli"]
MEMORY_TOLERANCE = 0.10


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


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


def send(
    base: str,
    sender: int,
    args: argparse.Namespace,
    rate: float | None,
    began: float,
    duration: float,
    totals: dict[str, int],
    latencies: list[float],
    lock: threading.Lock,
) -> None:
    """One sender's share of the traffic, paced to ``rate / senders`` events/s (as fast as
    the API answers when ``rate`` is None). Event ids carry the phase's start, so the
    calibration's and the soak's never collide."""
    rows = len(gsm8k_rows())
    per_sender = rate / args.senders if rate is not None else None
    phase = f"{began:.0f}"
    sent = counter = 0
    with httpx.Client(timeout=60.0) as client:
        while time.monotonic() - began < duration:
            batch = []
            now = datetime.now(UTC)
            for _ in range(args.batch):
                counter += 1
                batch.append(
                    native_event(
                        f"soak-{phase}-{sender}-{counter}",
                        row=counter % rows,
                        at=now,
                        tenant=TENANTS[counter % 7 % len(TENANTS)],
                        tier="cheap" if counter % 3 else "flagship",
                    )
                )
            accepted = failed = retries = 0
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
                elapsed = time.monotonic() - started
                if response.status_code in (429, 503):
                    retries += 1
                    time.sleep(float(response.headers.get("Retry-After", "1")))
                    continue
                if response.status_code < 300:
                    accepted = len(batch)
                    with lock:
                        latencies.append(elapsed)
                else:
                    failed = len(batch)
                break
            else:
                failed = len(batch)
            sent += len(batch)
            with lock:
                totals["sent"] += len(batch)
                totals["accepted"] += accepted
                totals["failed"] += failed
                totals["retries"] += retries
            # Paced to the asked rate: never faster, slower when the machine cannot keep up.
            if per_sender is not None:
                ahead = sent / per_sender - (time.monotonic() - began)
                if ahead > 0:
                    time.sleep(ahead)


def run_senders(
    base: str,
    args: argparse.Namespace,
    rate: float | None,
    duration: float,
    totals: dict[str, int],
    latencies: list[float],
    lock: threading.Lock,
) -> tuple[float, list[threading.Thread]]:
    began = time.monotonic()
    senders = [
        threading.Thread(
            target=send,
            args=(base, n, args, rate, began, duration, totals, latencies, lock),
            daemon=True,
        )
        for n in range(args.senders)
    ]
    for sender in senders:
        sender.start()
    return began, senders


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument(
        "--rate",
        type=float,
        default=None,
        help="events per second (default: 80%% of the rate calibrated in the same run)",
    )
    parser.add_argument(
        "--calibrate", type=float, default=60.0, help="seconds of unpaced ingest to calibrate"
    )
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
    totals = {"sent": 0, "accepted": 0, "failed": 0, "retries": 0}
    latencies: list[float] = []
    lock = threading.Lock()
    try:
        with httpx.Client(timeout=30.0) as probe:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                try:
                    if probe.get(f"{base}/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.5)
        # Calibration: as fast as the API answers, with the worker and beat busy on what it
        # samples; the rate is measured over the second half (after connection set-up).
        calibration = {"sent": 0, "accepted": 0, "failed": 0, "retries": 0}
        half = args.calibrate / 2.0
        began, senders = run_senders(base, args, None, args.calibrate, calibration, [], lock)
        time.sleep(half)
        accepted_at_half = calibration["accepted"]
        time.sleep(args.calibrate - half)
        calibrated = (calibration["accepted"] - accepted_at_half) / (args.calibrate - half)
        for sender in senders:
            sender.join(timeout=60)
        rate = args.rate if args.rate is not None else 0.8 * calibrated
        print(
            f"calibration: {calibrated:.0f} events/s unpaced ({args.senders} connections); "
            f"soaking at {rate:.0f} events/s",
            flush=True,
        )
        duration = args.minutes * 60.0
        began, senders = run_senders(base, args, rate, duration, totals, latencies, lock)
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
            sender.join(timeout=60)
        achieved = totals["accepted"] / (time.monotonic() - began)
        stored_dsn = ADMIN_DSN.rsplit("/", 1)[0] + f"/{name}"
        with psycopg.connect(stored_dsn) as conn:
            row = conn.execute(
                "SELECT count(*), count(DISTINCT event_id) FROM traffic_events"
            ).fetchone()
        stored, distinct = (int(row[0]), int(row[1])) if row else (0, 0)
    finally:
        for process in [*processes.values(), beat]:
            process.terminate()
            process.wait(timeout=60)
        with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    # Both phases' events must be stored exactly once.
    sent = totals["sent"] + calibration["sent"]
    accepted = totals["accepted"] + calibration["accepted"]
    failed = totals["failed"] + calibration["failed"]

    after = [s for s in samples if s[0] >= args.warmup * 60.0]
    if not after:
        print("FAIL: no memory sample after the warm-up")
        return 1
    base_api, base_worker = after[0][1], after[0][2]
    peak_api = max(s[1] for s in after)
    peak_worker = max(s[2] for s in after)
    api_growth = peak_api / base_api - 1.0
    worker_growth = peak_worker / base_worker - 1.0
    print(f"soak: {args.minutes:g} min, warm-up {args.warmup:g} min, batches of {args.batch}")
    print(
        f"events sent {sent}, accepted {accepted}, failed {failed}, stored {stored} "
        f"({distinct} distinct), retried batches {totals['retries']}; "
        f"accepted rate {achieved:.0f}/s (asked {rate:.0f}/s; calibrated {calibrated:.0f}/s)"
    )
    if latencies:
        ordered = sorted(latencies)
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
    ok = (
        api_growth <= MEMORY_TOLERANCE
        and worker_growth <= MEMORY_TOLERANCE
        and failed == 0
        and stored == distinct == accepted
        and achieved >= 0.9 * rate
    )
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
