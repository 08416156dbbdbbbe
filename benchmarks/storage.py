"""Database bytes per event: today's layout against partitions plus the text window.

Stores ``--events`` prose events (default 1,000,000; about 1.1 KB of prompt and answer text
each: a tenant's system prompt, a GSM8K question and the routed model's GSM8K answer) into a
fresh PostgreSQL database at the shipped defaults (redaction, sampling budget, slice features,
text window), spread over ``--days`` closed UTC days. Bulk load: the first ``--seed`` events
(default 50,000) go through the store's own function (``shadowgap.ingest.store.store_requests``,
where every ingest route ends) in batches of ``--batch`` inside this process, not over HTTP;
the rest are SQL copies of the stored rows (traffic_events, slice_features, sampling_decisions,
pending_originals) with new ids and event ids, so each copy weighs what its original does and
the sampled share stays the store's. The store runs at a few hundred events/s on this shared
machine: 1,000,000 events through it would take most of an hour for the same bytes.

Figures, all over every table ingest writes (traffic_events and its partitions,
slice_features, sampling_decisions, pending_originals, reverse_samples, segments), heap,
TOAST, indexes and their free-space and visibility maps (``pg_total_relation_size``):

    baseline  the same rows copied into a second database migrated to revision 0014 (today's
              layout: one table, no text window), measured in the same run
    before    this branch's layout right after ingest (partitioned, all text still there)
    text      the same database once the text window has passed (``privacy.text_window``'s
              body run two hours after the last day ended): text cleared, slice feature
              values still kept (exploration's traffic movers read them for 8 days)
    after     once the slice features' horizon has passed too (the body run again with the
              real clock: the days lie 9 to 13 days back), every window passed
    rows      once the oldest ``--drop-days`` days are past SHADOWGAP_EVENT_ROW_DAYS
              (``privacy.row_retention``'s body run with the clock set that far ahead): their
              partitions dropped, the rows pointing at their events deleted

Targets: after / baseline <= 0.4 (issue 24, every window passed); and row retention frees
what the dropped days held: the bytes gone are at least the dropped days' partitions'
``pg_total_relation_size`` measured just before (the rows pointing at their events are
deleted too, but a DELETE only makes room inside its table's files). Prints PASS or FAIL for
each and exits 1 on any FAIL; the text stage's ratio and the bytes per kept event after row
retention are printed beside them.

Usage: python benchmarks/storage.py [--events 1000000] [--seed 50000] [--days 4] [--batch 2000]
[--drop-days 2]
(SHADOWGAP_BENCH_KEEP=1 keeps both databases afterwards, to look at the rows.)
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import sys
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ADMIN_DSN = os.environ.get(
    "SHADOWGAP_BENCH_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres"
)
GSM8K_CSV = ROOT.parent / "shared" / "data" / "routellm" / "gsm8k" / "gsm8k_responses.csv"
TARGET = 0.4
CHEAP_SHARE = 0.75
TENANTS = [f"tenant-{n}" for n in range(8)]
USERS = 5000
# Tables ingest writes (traffic_events counts with its partitions).
TABLES = [
    "traffic_events",
    "slice_features",
    "sampling_decisions",
    "pending_originals",
    "reverse_samples",
    "segments",
]
# A deployment's instructions, one per tenant (the same text on each of its requests).
SYSTEM = (
    "You are the support assistant of {tenant}. Answer the customer's question precisely and "
    "show the steps of any calculation, one per line, before the final answer. Be brief and "
    "polite, never invent account details, prices or policies that the question does not "
    "state, and if the question cannot be answered from what it says, say what is missing. "
    "Write plain text without Markdown headings. End with the final number after '####'. "
    "Keep answers under two hundred words unless the customer asks for more detail."
)


def gsm8k() -> list[dict[str, str]]:
    with GSM8K_CSV.open(newline="") as handle:
        return list(csv.DictReader(handle))


def event(i: int, rows: list[dict[str, str]], at: datetime) -> dict[str, Any]:
    row = rows[i % len(rows)]
    cheap = (i * 7919) % 100 < CHEAP_SHARE * 100
    tenant = TENANTS[i % len(TENANTS)]
    model = "mistralai/Mixtral-8x7B-Instruct-v0.1" if cheap else "gpt-4-1106-preview"
    return {
        "event_id": str(uuid.UUID(int=(i * 0x9E3779B97F4A7C15) % (1 << 128))),
        "timestamp": at.isoformat(),
        "request": {
            "messages": [
                {"role": "system", "content": SYSTEM.format(tenant=tenant)},
                {"role": "user", "content": row["prompt"]},
            ],
            "params": {"temperature": 0, "max_tokens": 512},
        },
        "route": {
            "tier": "cheap" if cheap else "flagship",
            "model": model,
            "score": ((i * 31) % 100) / 100,
            "reason": "router score below threshold" if cheap else "router score above threshold",
        },
        "answer": row[f"{model}_response"],
        "latency_ms": 400.0 + (i % 900),
        "ttft_ms": 80.0 + (i % 50),
        "usage": {"prompt_tokens": 180, "completion_tokens": 120},
        "cost_usd": 0.0001 if cheap else 0.004,
        "status": "ok",
        "attributes": {
            "tenant": tenant,
            "user": f"user-{(i * 104729) % USERS}",
            "team": "support",
            "tags": ["surface:chat"],
        },
    }


def create_database(prefix: str) -> tuple[str, str]:
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base = ADMIN_DSN.rsplit("/", 1)[0]
    return name, f"{base}/{name}"


def drop_database(name: str) -> None:
    with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def sqlalchemy_url(dsn: str) -> str:
    return dsn.replace("postgresql://", "postgresql+psycopg://", 1)


def table_bytes(dsn: str) -> dict[str, int]:
    """Heap, TOAST, indexes and maps of each table ingest writes, partitions included (a
    partitioned parent has no storage of its own)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("VACUUM")
        found: dict[str, int] = {}
        for table in TABLES:
            found[table] = int(
                conn.execute(
                    "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
                    "WHERE c.oid = %s::regclass "
                    "OR c.oid IN (SELECT relid FROM pg_partition_tree(%s::regclass))",
                    (table, table),
                ).fetchone()[0]
            )
        return found


def day_partition_bytes(dsn: str, days: list[date]) -> int:
    """``pg_total_relation_size`` of these days' partitions of every partitioned table."""
    from shadowgap.db import partitions

    names = [partitions.partition_name(day, table) for day in days for table in partitions.TABLES]
    with psycopg.connect(dsn, autocommit=True) as conn:
        return int(
            conn.execute(
                "SELECT coalesce(sum(pg_total_relation_size(to_regclass(n))), 0) "
                "FROM unnest(%s::text[]) AS n",
                (names,),
            ).fetchone()[0]
        )


def event_count(dsn: str) -> int:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return int(conn.execute("SELECT count(*) FROM traffic_events").fetchone()[0])


def copy_rows(source: str, target: str) -> None:
    """Copy what ingest wrote into the baseline database (same columns, today's layout)."""
    with psycopg.connect(source) as src, psycopg.connect(target) as dst:
        # Referred-to tables first.
        for table in ["segments", "traffic_events", *TABLES[1:-1]]:
            columns = [
                r[0]
                for r in src.execute(
                    "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass "
                    "AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
                    (table,),
                )
            ]
            names = ", ".join(columns)
            with (
                src.cursor().copy(
                    f"COPY (SELECT {names} FROM {table}) TO STDOUT (FORMAT binary)"
                ) as out,
                dst.cursor().copy(f"COPY {table} ({names}) FROM STDIN (FORMAT binary)") as into,
            ):
                for block in out:
                    into.write(block)
        dst.commit()


def replicate(dsn: str, seed: int, events: int) -> None:
    """Fill up to ``events`` with copies of the ``seed`` stored events: copy k of event id
    ``i`` gets id ``i + k * seed``, an event id of the same length (a UUID) and its time plus
    k microseconds (the same day partition but at a day's last instants)."""
    copies = events // seed - 1
    if copies <= 0:
        return
    with psycopg.connect(dsn) as conn:
        conn.execute("SET max_parallel_workers_per_gather = 0")

        def columns(table: str) -> list[str]:
            return [
                r[0]
                for r in conn.execute(
                    "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass "
                    "AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
                    (table,),
                )
            ]

        shifted = {
            "id": "t.id + k * %(seed)s",
            "event_pk": "t.event_pk + k * %(seed)s",
            "event_id": "md5(t.event_id || k::text)::uuid::text",
            "occurred_at": "t.occurred_at + k * interval '1 microsecond'",
        }
        for table, key in (
            ("traffic_events", "id"),
            ("slice_features", "event_pk"),
            ("sampling_decisions", "event_pk"),
            ("pending_originals", "event_pk"),
        ):
            names = [c for c in columns(table) if not (table == "sampling_decisions" and c == "id")]
            selected = ", ".join(shifted.get(c, f"t.{c}") for c in names)
            conn.execute(
                f"INSERT INTO {table} ({', '.join(names)}) SELECT {selected} FROM {table} t "
                f"CROSS JOIN generate_series(1, %(copies)s) k WHERE t.{key} <= %(seed)s",
                {"seed": seed, "copies": copies},
            )
        conn.commit()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=50_000)
    parser.add_argument("--days", type=int, default=4)
    parser.add_argument("--batch", type=int, default=2000)
    parser.add_argument("--drop-days", type=int, default=2)
    args = parser.parse_args()
    if not 0 < args.drop_days < args.days:
        parser.error("--drop-days must be at least 1 and fewer than --days")

    name, dsn = create_database("shadowgap_bench_storage")
    base_name, base_dsn = create_database("shadowgap_bench_storage_base")
    try:
        os.environ["SHADOWGAP_DATABASE_URL"] = sqlalchemy_url(dsn)
        from shadowgap.config import get_settings
        from shadowgap.db.engine import session_scope
        from shadowgap.db.migrate import upgrade
        from shadowgap.ingest.store import IngestRequest, prepare_request, store_requests
        from shadowgap.privacy import row_retention, text_window
        from shadowgap.schemas import TrafficEvent

        upgrade(sqlalchemy_url(dsn))
        upgrade(sqlalchemy_url(base_dsn), "0014")
        settings = get_settings()
        rows = gsm8k()
        # Days that ended more than the slice features' horizon ago (default 8 days), so the
        # final state is every window passed.
        end = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(
            days=math.ceil(settings.slice_feature_days) + 1
        )
        start = end - timedelta(days=args.days)
        seed = min(args.seed, args.events)
        if args.events % seed:
            parser.error("--events must be a multiple of --seed")
        step = (end - start) / seed
        text_chars = 0
        began = time.perf_counter()
        for first in range(0, seed, args.batch):
            raw = [
                event(i, rows, start + step * i)
                for i in range(first, min(first + args.batch, seed))
            ]
            events = [TrafficEvent.model_validate(e) for e in raw]
            text_chars += sum(
                len(m["content"]) for e in raw for m in e["request"]["messages"]
            ) + sum(len(e["answer"]) for e in raw)
            request: IngestRequest = prepare_request(events, "native", settings)
            with session_scope() as session:
                store_requests(session, [request], settings, events[-1].timestamp + step)
        load_seconds = time.perf_counter() - began
        print(
            f"stored {seed:,} events through the store in {load_seconds:.0f} s "
            f"({seed / load_seconds:,.0f} events/s in-process, batches of {args.batch}); "
            f"prompt+answer text {text_chars / seed:,.0f} characters an event"
        )
        began = time.perf_counter()
        replicate(dsn, seed, args.events)
        print(
            f"copied them in SQL up to {args.events:,} events in "
            f"{time.perf_counter() - began:.0f} s"
        )

        before = table_bytes(dsn)
        copy_rows(dsn, base_dsn)
        baseline = table_bytes(base_dsn)
        with psycopg.connect(dsn) as conn:
            sampled = conn.execute("SELECT count(*) FROM sampling_decisions").fetchone()[0]
        # First the text window alone: two hours after the last day ended, the text of every
        # day is past it while the slice features' horizon is not.
        began = time.perf_counter()
        result = text_window.run(session_scope, end + timedelta(hours=2), settings)
        window_seconds = time.perf_counter() - began
        text_only = table_bytes(dsn)
        # Then now: past the slice features' horizon too.
        text_window.run(session_scope, datetime.now(UTC), settings)
        after = table_bytes(dsn)
        # Then row retention, with the clock where the oldest --drop-days days have just
        # passed SHADOWGAP_EVENT_ROW_DAYS.
        dropped = [(start + timedelta(days=n)).date() for n in range(args.drop_days)]
        dropped_bytes = day_partition_bytes(dsn, dropped)
        row_clock = start + timedelta(days=args.drop_days + settings.event_row_days, hours=12)
        began = time.perf_counter()
        rows_result = row_retention.run(session_scope, row_clock, settings)
        rows_seconds = time.perf_counter() - began
        rows_bytes = table_bytes(dsn)
        kept_events = event_count(dsn)
    finally:
        from shadowgap.db.engine import reset_caches

        reset_caches()
        if not os.environ.get("SHADOWGAP_BENCH_KEEP"):
            drop_database(name)
            drop_database(base_name)

    n = args.events
    print(f"sampled events (text kept): {sampled:,} ({sampled / n:.1%})")
    print(
        f"text window: {result.events:,} events cleared in {result.partitions} partitions, "
        f"{window_seconds:.0f} s"
    )
    print(
        f"row retention: {len(rows_result.days)} days dropped ({', '.join(rows_result.days)}), "
        f"{rows_result.events:,} events by the statistics, {kept_events:,} kept, "
        f"{rows_seconds:.1f} s; deleted {rows_result.dependants}"
    )
    stages = {
        "baseline": baseline,
        "before": before,
        "text": text_only,
        "after": after,
    }
    print("bytes per event, by table:  baseline   before     text    after")
    for table in TABLES:
        print(f"  {table:<24}" + "".join(f"{v[table] / n:9.0f}" for v in stages.values()))
    totals = {k: sum(v.values()) for k, v in stages.items()}
    print(f"baseline (revision 0014 layout, all text)         : {totals['baseline'] / n:6.0f}")
    print(f"before   (partitioned, all text)                  : {totals['before'] / n:6.0f}")
    print(
        f"text     (text window passed, slice features kept) : {totals['text'] / n:6.0f}"
        f"  ({totals['text'] / totals['baseline']:.3f} of baseline; features go after "
        f"{settings.slice_feature_days:g} days)"
    )
    print(f"after    (text window and feature horizon passed) : {totals['after'] / n:6.0f}")
    ratio = totals["after"] / totals["baseline"]
    verdict = "PASS" if ratio <= TARGET else "FAIL"
    print(f"after / baseline at {n:,} events: {ratio:.3f}  (target <= {TARGET})  {verdict}")

    rows_total = sum(rows_bytes.values())
    freed = totals["after"] - rows_total
    freed_verdict = (
        "PASS"
        if rows_result.days == [d.isoformat() for d in dropped] and freed >= dropped_bytes
        else "FAIL"
    )
    print("after row retention, by table (bytes per kept event):")
    for table in TABLES:
        print(f"  {table:<24}{rows_bytes[table] / max(kept_events, 1):9.0f}")
    print(
        f"rows     (row retention, {args.drop_days} of {args.days} days dropped)"
        f"{'':>9}: {rows_total / max(kept_events, 1):6.0f} per kept event "
        f"({rows_total:,} bytes on disk for {kept_events:,} events)"
    )
    print(
        f"bytes freed by dropping {args.drop_days} days: {freed:,}; their partitions held "
        f"{dropped_bytes:,} (target: freed >= held)  {freed_verdict}"
    )
    return 0 if verdict == freed_verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
