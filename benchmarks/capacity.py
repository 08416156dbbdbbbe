"""The capacity model's inputs, measured on this machine, and the cores and disk they imply.

Starts the real API (one uvicorn process), a Celery worker (all queues, concurrency 2) and beat
against a PostgreSQL database of its own and Redis, with the recorded flagship (GSM8K answers
looked up from a CSV: no model runs, so the flagship's own cost is left out, as a hosted
flagship's is) and the shipped defaults otherwise (2% sampling budget, answer-match judge,
20% of sampled events re-run twice for the noise floor). Then:

1. idle: ``--idle`` seconds (default 20) with no traffic, to measure the fixed CPU rate of the
   worker and beat (heartbeats, beat's sweeps), which the per-event figure leaves out;
2. ingest: ``--senders`` threads POST batches of ``--batch`` events (the soak's traffic: five
   tenants, one event in three routed to the flagship) paced to ``--rate`` events/s for
   ``--seconds`` (defaults 1,000 events/s for 60 s: well below the machine's ingest rate, so
   the figures are the cost of the work, not of queueing for a CPU);
3. drain: the worker keeps running until every sampled event has its verdict and the worker's
   CPU rate has been back at its idle rate for two 5-second windows.

CPU time comes from /proc (``benchmarks/proc_cpu.py``), sampled every 0.5 s:
- API: the uvicorn process (and anything it starts), during the ingest window;
- PostgreSQL: the backends connected to the benchmark's database (pg_stat_activity.datname),
  autovacuum workers included, from the ingest start to the end of the drain (the worker's
  queries are counted here too). PostgreSQL's shared background processes (checkpointer,
  WAL writer, background writer) serve every database on the server, so their CPU is printed
  apart as an upper bound and not added;
- workers: the Celery worker's process tree and beat, from the ingest start to the end of the
  drain, minus their idle rate over the same time.
Each is divided by the events stored: CPU seconds per 1,000 events.

Disk: bytes per event = (every table, index and TOAST relation of the database, via
pg_total_relation_size, partitions included) after the drain, minus the same sum right after
the migrations, over the events stored, i.e. today's rows with their text still in them (the
text stays ``retention_days``, default 90). ``--bytes-per-event N`` replaces it with a figure
from elsewhere (e.g. ``benchmarks/storage.py`` at 1M events after the text window). The WAL
written during the run is printed too, as an upper bound (the server's WAL position, which
other databases move as well).

From these: the cores (busy, and provisioned at 70% utilisation) and the disk per day at 1k,
10k and 100k events/s, assuming every figure grows linearly with the rate (see
docs/capacity.md for what that needs). Prints every figure with the load average; exits 1 when
a run went wrong (an event lost or a batch failed, a sampled event not judged within the drain
timeout) so that no model is built from a broken run.

Usage: python benchmarks/capacity.py [--rate 1000] [--seconds 60] [--batch 100] [--quick]
                                    [--bytes-per-event N]
  --quick: 500 events/s for 15 s, 10 s idle (a local check; noisier figures)
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
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.proc_cpu import CpuMeter, cpu_seconds, descendants  # noqa: E402
from benchmarks.soak import API_KEY, GSM8K_CSV, Tally, send, start  # noqa: E402
from tests.support.processes import free_port, wait_healthy  # noqa: E402

ADMIN_DSN = os.environ.get(
    "SHADOWGAP_BENCH_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("SHADOWGAP_BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
RATES = (1_000, 10_000, 100_000)
UTILISATION = 0.70
DRAIN_TIMEOUT_SECONDS = 600.0

USER_RELATIONS_BYTES = """
SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)
FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg_toast%'
"""
LARGEST_RELATIONS = """
SELECT c.relname, pg_total_relation_size(c.oid)
FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg_toast%'
ORDER BY 2 DESC LIMIT 6
"""
DATABASE_BACKENDS = (
    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
    "AND pid <> pg_backend_pid()"
)
SHARED_BACKGROUND = (
    "SELECT pid FROM pg_stat_activity WHERE datname IS NULL "
    "AND backend_type IN ('checkpointer', 'background writer', 'walwriter')"
)
UNJUDGED = """
SELECT count(*) FROM sampling_decisions AS d
WHERE NOT EXISTS (SELECT 1 FROM verdicts AS v WHERE v.event_pk = d.event_pk AND v.kind = 'gap')
  AND NOT EXISTS (SELECT 1 FROM shadow_runs AS r
                  WHERE r.event_pk = d.event_pk AND r.replicate = 0 AND r.status = 'failed')
"""


@dataclass
class Measured:
    events: int
    accepted: int
    failed: int
    sampled: int
    verdicts: int
    shadow_runs: int
    api_cpu: float
    pg_cpu: float
    pg_background_cpu: float
    worker_cpu: float
    worker_idle_rate: float
    ingest_seconds: float
    drain_seconds: float
    db_bytes: int
    text_bytes: float
    wal_bytes: int
    largest: list[tuple[str, int]]
    drained: bool


def pids_of(dsn: str, query: str) -> Callable[[], Iterable[int]]:
    """A pid source for CpuMeter: the query's pids, read on a connection of its own."""
    conn = psycopg.connect(dsn, autocommit=True)
    lock = threading.Lock()

    def pids() -> list[int]:
        with lock:
            return [int(row[0]) for row in conn.execute(query).fetchall()]

    return pids


def tree(*processes: subprocess.Popen[bytes]) -> Callable[[], list[int]]:
    return lambda: [pid for process in processes for pid in descendants(process.pid)]


def tree_cpu(processes: Iterable[subprocess.Popen[bytes]]) -> float:
    return sum(cpu_seconds(pid) or 0.0 for p in processes for pid in descendants(p.pid))


def scalar(dsn: str, query: str) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(query).fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def drain(dsn: str, jobs: list[subprocess.Popen[bytes]], idle_rate: float) -> tuple[bool, float]:
    """Waits until every sampled event is judged (or its run failed) and the worker's CPU rate
    is back at its idle rate (+0.05 core) for two 5 s windows in a row. Returns whether it
    drained, and when (monotonic)."""
    deadline = time.monotonic() + DRAIN_TIMEOUT_SECONDS
    quiet = 0
    while time.monotonic() < deadline:
        before = tree_cpu(jobs)
        time.sleep(5.0)
        rate = (tree_cpu(jobs) - before) / 5.0
        quiet = quiet + 1 if rate <= idle_rate + 0.05 and scalar(dsn, UNJUDGED) == 0 else 0
        if quiet >= 2:
            return True, time.monotonic()
    return False, time.monotonic()


def measure(args: argparse.Namespace) -> Measured:
    name = f"shadowgap_capacity_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    dsn = ADMIN_DSN.rsplit("/", 1)[0] + f"/{name}"
    workdir = Path(tempfile.mkdtemp(prefix="shadowgap-capacity-"))
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "SHADOWGAP_DATABASE_URL": dsn.replace("postgresql://", "postgresql+psycopg://"),
        "SHADOWGAP_BROKER_URL": REDIS_URL,
        "SHADOWGAP_API_KEYS": API_KEY,
        "SHADOWGAP_FLAGSHIP_CLIENT": "recorded",
        "SHADOWGAP_RECORDED_ANSWERS_PATH": str(GSM8K_CSV),
        "SHADOWGAP_LOG_LEVEL": "WARNING",
    }
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()
    cli = [sys.executable, "-m", "shadowgap.cli.main"]
    subprocess.run(
        [*cli, "db", "upgrade"], env=env, cwd=ROOT, check=True, stdout=subprocess.DEVNULL
    )
    empty_bytes = scalar(dsn, USER_RELATIONS_BYTES)
    port = free_port()
    api = start([*cli, "serve", "--port", str(port)], env, workdir / "api.log", ROOT)
    worker = start([*cli, "worker", "--concurrency", "2"], env, workdir / "worker.log", ROOT)
    beat = start([*cli, "beat"], env, workdir / "beat.log", workdir)
    jobs = [worker, beat]
    try:
        base = f"http://127.0.0.1:{port}"
        if not wait_healthy(base, timeout=120):
            raise RuntimeError("the API did not start")
        time.sleep(10.0)  # the worker's start-up (imports, self-checks) is not idle time
        idle_started, idle_cpu = time.monotonic(), tree_cpu(jobs)
        time.sleep(args.idle)
        idle_rate = (tree_cpu(jobs) - idle_cpu) / (time.monotonic() - idle_started)

        api_meter = CpuMeter(tree(api)).start()
        pg_meter = CpuMeter(pids_of(dsn, DATABASE_BACKENDS)).start()
        background_meter = CpuMeter(pids_of(dsn, SHARED_BACKGROUND)).start()
        jobs_meter = CpuMeter(tree(worker, beat)).start()
        wal_before = scalar(dsn, "SELECT pg_current_wal_lsn() - '0/0'")
        tally = Tally()
        began = time.monotonic()
        sender_args = argparse.Namespace(
            rate=args.rate, minutes=args.seconds / 60.0, batch=args.batch, senders=args.senders
        )
        senders = [
            threading.Thread(target=send, args=(base, n, sender_args, began, tally), daemon=True)
            for n in range(args.senders)
        ]
        for sender in senders:
            sender.start()
        for sender in senders:
            sender.join()
        ingest_seconds = time.monotonic() - began
        api_cpu = api_meter.stop()
        drained, drained_at = drain(dsn, jobs, idle_rate)
        pg_cpu, pg_background_cpu = pg_meter.stop(), background_meter.stop()
        worker_cpu = jobs_meter.stop() - idle_rate * (drained_at - began)
        wal_bytes = scalar(dsn, "SELECT pg_current_wal_lsn() - '0/0'") - wal_before
        with psycopg.connect(dsn) as conn:
            largest = [(str(r[0]), int(r[1])) for r in conn.execute(LARGEST_RELATIONS)]
            text_row = conn.execute(
                "SELECT avg(coalesce(pg_column_size(request), 0) "
                "+ coalesce(pg_column_size(answer), 0)) "
                "FROM traffic_events"
            ).fetchone()
        return Measured(
            events=scalar(dsn, "SELECT count(*) FROM traffic_events"),
            accepted=tally.accepted,
            failed=tally.failed,
            sampled=scalar(dsn, "SELECT count(*) FROM sampling_decisions"),
            verdicts=scalar(dsn, "SELECT count(*) FROM verdicts"),
            shadow_runs=scalar(dsn, "SELECT count(*) FROM shadow_runs"),
            api_cpu=api_cpu,
            pg_cpu=pg_cpu,
            pg_background_cpu=pg_background_cpu,
            worker_cpu=worker_cpu,
            worker_idle_rate=idle_rate,
            ingest_seconds=ingest_seconds,
            drain_seconds=drained_at - began - ingest_seconds,
            db_bytes=scalar(dsn, USER_RELATIONS_BYTES) - empty_bytes,
            text_bytes=float(text_row[0]) if text_row and text_row[0] is not None else 0.0,
            wal_bytes=wal_bytes,
            largest=largest,
            drained=drained,
        )
    finally:
        for process in (api, worker, beat):
            process.terminate()
            process.wait(timeout=60)
        with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=float, default=1000.0, help="events per second")
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the ingest")
    parser.add_argument("--idle", type=float, default=20.0, help="seconds of idle measurement")
    parser.add_argument("--batch", type=int, default=100, help="events per request")
    parser.add_argument("--senders", type=int, default=8, help="concurrent client threads")
    parser.add_argument(
        "--bytes-per-event", type=float, default=None, help="disk figure to use instead"
    )
    parser.add_argument("--quick", action="store_true", help="500 events/s for 15 s")
    args = parser.parse_args()
    if args.quick:
        args.rate, args.seconds, args.idle = 500.0, 15.0, 10.0
    load_before = os.getloadavg()
    m = measure(args)
    load_after = os.getloadavg()
    return report(m, args, load_before[0], load_after[0])


def report(m: Measured, args: argparse.Namespace, load_before: float, load_after: float) -> int:
    print(
        f"capacity: {args.rate:,.0f} events/s asked for {args.seconds:g} s in batches of "
        f"{args.batch}; load average (1 min) {load_before:.2f} before, {load_after:.2f} after, "
        f"on {os.cpu_count()} CPUs"
    )
    print(
        f"events accepted {m.accepted:,}, failed {m.failed:,}, stored {m.events:,} in "
        f"{m.ingest_seconds:.0f} s ({m.events / m.ingest_seconds:,.0f}/s); sampled "
        f"{m.sampled:,} ({m.sampled / max(m.events, 1):.2%}), shadow runs {m.shadow_runs:,}, "
        f"verdicts {m.verdicts:,}; drained {m.drain_seconds:.0f} s after the ingest ended"
        + ("" if m.drained else f" -- NOT DRAINED within {DRAIN_TIMEOUT_SECONDS:.0f} s")
    )
    if m.events == 0:
        print("FAIL: no event was stored")
        return 1
    per_1k = {
        "API (uvicorn, ingest window)": m.api_cpu,
        "PostgreSQL (this database's backends)": m.pg_cpu,
        "workers (Celery worker + beat, above idle)": m.worker_cpu,
    }
    thousands = m.events / 1000.0
    print(f"\n{'CPU seconds per 1,000 events':<48}{'measured s':>11}{'per 1k':>9}")
    for label, seconds in per_1k.items():
        print(f"{label:<48}{seconds:>11.2f}{seconds / thousands:>9.3f}")
    total_per_1k = sum(per_1k.values()) / thousands
    print(f"{'total':<48}{sum(per_1k.values()):>11.2f}{total_per_1k:>9.3f}")
    print(
        f"not added: worker + beat idle {m.worker_idle_rate:.3f} cores (fixed, per worker); "
        f"PostgreSQL shared background processes {m.pg_background_cpu:.2f} s "
        f"({m.pg_background_cpu / thousands:.3f} per 1k: an upper bound, every database's)"
    )
    measured_bytes = m.db_bytes / max(m.events, 1)
    bytes_per_event = args.bytes_per_event or measured_bytes
    print(
        f"\ndisk: {m.db_bytes / 1e6:,.1f} MB over the empty schema = {measured_bytes:,.0f} "
        f"bytes/event (tables + indexes + TOAST; prompt and answer columns "
        f"{m.text_bytes:,.0f} bytes/event of it); WAL written {m.wal_bytes / max(m.events, 1):,.0f}"
        " bytes/event (upper bound: the whole server's WAL)"
    )
    print("largest relations: " + ", ".join(f"{n} {b / 1e6:.1f} MB" for n, b in m.largest))
    if args.bytes_per_event:
        print(f"the model uses {bytes_per_event:,.0f} bytes/event (--bytes-per-event)")
    print(
        f"\n{'events/s':>9}{'busy cores':>12}{'cores at 70%':>14}"
        f"{'API':>7}{'PG':>7}{'workers':>9}{'disk GB/day':>13}"
    )
    for rate in RATES:
        cores = {label: rate / 1000.0 * s / thousands for label, s in per_1k.items()}
        busy = sum(cores.values())
        api, pg, workers = cores.values()
        print(
            f"{rate:>9,}{busy:>12.1f}{busy / UTILISATION:>14.1f}{api:>7.1f}{pg:>7.1f}"
            f"{workers:>9.1f}{rate * 86_400 * bytes_per_event / 1e9:>13,.0f}"
        )
    ok = m.drained and m.failed == 0 and m.events == m.accepted
    print("OK" if ok else "FAIL: the run lost events, failed batches or did not drain")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
