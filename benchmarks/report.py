"""Benchmark of the weekly drift report: 1,000,000 events over 100 segments, two weeks.

    python benchmarks/report.py            # PostgreSQL (SHADOWGAP_BENCH_POSTGRES_URL)
    python benchmarks/report.py --sqlite   # a SQLite file in a temporary directory

PostgreSQL gets a dedicated database ``shadowgap_bench``, dropped afterwards. Rows are loaded
with COPY (PostgreSQL) or executemany (SQLite), then the script times a plain GROUP BY scan of
the same two weeks (the baseline: the least any per-segment report must do) and
``build_weekly_report``, and prints both and their ratio. Evidently's import (~10 s, paid once
per worker process) is timed separately. Five segments drift in week two (quality gap and
latency), so the ranking has something to find.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from shadowgap.config import Settings  # noqa: E402
from shadowgap.db import models  # noqa: E402
from shadowgap.db.engine import make_engine  # noqa: E402

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
BENCH_DB = "shadowgap_bench"
START = datetime(2026, 11, 2, tzinfo=UTC)
WEEK = timedelta(days=7)
DRIFTING = 5
PAIRS_PER_SEGMENT_WEEK = 150
EVENT_COLUMNS = (
    "id, event_id, segment_id, source_format, occurred_at, received_at, route_tier, "
    "route_model, route_score, is_cheap, request, prompt_hash, answer, latency_ms, ttft_ms, "
    "prompt_tokens, completion_tokens, cost_usd, status, refused, escalated, attributes"
)
RUN_COLUMNS = "id, event_pk, replicate, status, client, model, answer, latency_ms, cost_usd, " + (
    "prompt_tokens, completion_tokens, attempts, created_at"
)
VERDICT_COLUMNS = (
    "id, event_pk, segment_id, kind, judge, winner, gap_score, inclusion_probability, raw, "
    "rationale, prompt_tokens, completion_tokens, cost_usd, latency_ms, created_at"
)


class Data:
    """The whole synthetic data set as numpy columns (generated once, loaded either way)."""

    def __init__(self, n_events: int, n_segments: int, seed: int = 7) -> None:
        rng = np.random.default_rng(seed)
        # Uneven segment sizes (log-normal weights): some exceed the 5,000-row sample cap.
        weights = rng.lognormal(0, 0.8, n_segments)
        self.segment = rng.choice(n_segments, size=n_events, p=weights / weights.sum()) + 1
        self.offset = rng.uniform(0, 2 * WEEK.total_seconds(), n_events)
        order = np.argsort(self.offset)  # ids follow time, as ingestion would
        self.segment, self.offset = self.segment[order], self.offset[order]
        self.n = n_events
        self.n_segments = n_segments
        week2 = self.offset >= WEEK.total_seconds()
        drifting = (self.segment <= DRIFTING) & week2
        self.cheap = rng.random(n_events) < 0.7
        self.latency = 400 * np.exp(rng.normal(0, 0.35, n_events)) * np.where(drifting, 1.8, 1.0)
        self.cost = np.where(
            self.cheap, rng.gamma(4, 0.0005 / 4, n_events), rng.gamma(4, 0.01 / 4, n_events)
        )
        self.error = rng.random(n_events) < 0.01
        self.escalated = rng.random(n_events) < 0.02
        # Per segment and week, inclusion probability aims at ~150 judged pairs.
        cheap_per_seg_week = np.bincount(
            self.segment[self.cheap] * 2 + week2[self.cheap], minlength=2 * n_segments + 2
        )
        key = self.segment * 2 + week2
        self.incl = np.minimum(1.0, PAIRS_PER_SEGMENT_WEEK / np.maximum(cheap_per_seg_week[key], 1))
        self.sampled = self.cheap & (rng.random(n_events) < self.incl)
        self.noisy = self.sampled & (rng.random(n_events) < 0.2)
        self.gap_win = rng.random(n_events) < np.where(drifting, 0.40, 0.10)
        self.noise_win = rng.random(n_events) < 0.05

    def when(self, i: int) -> datetime:
        return START + timedelta(seconds=float(self.offset[i]))


def _ts(value: datetime, sqlite: bool) -> str:
    # SQLite stores SQLAlchemy DateTime as naive UTC text; PostgreSQL takes ISO with offset.
    return value.strftime("%Y-%m-%d %H:%M:%S.%f") if sqlite else value.isoformat()


def event_rows(data: Data, sqlite: bool) -> Iterator[tuple[Any, ...]]:
    true, false = (1, 0) if sqlite else ("t", "f")
    for i in range(data.n):
        pk = i + 1
        at = _ts(data.when(i), sqlite)
        cheap = bool(data.cheap[i])
        prompt = f"question {pk}"
        yield (
            pk,
            f"bench-{pk}",
            int(data.segment[i]),
            "native",
            at,
            at,
            "cheap" if cheap else "flagship",
            "small-model" if cheap else "big-model",
            0.2 if cheap else 0.8,
            true if cheap else false,
            json.dumps({"messages": [{"role": "user", "content": prompt}], "params": {}}),
            hashlib.md5(prompt.encode()).hexdigest(),
            f"answer {pk}",
            round(float(data.latency[i]), 2),
            round(float(data.latency[i]) / 5, 2),
            100,
            60,
            round(float(data.cost[i]), 7),
            "error" if data.error[i] else "ok",
            false,
            true if data.escalated[i] else false,
            "{}",
        )


def pair_rows(data: Data, sqlite: bool) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    runs: list[tuple[Any, ...]] = []
    verdicts: list[tuple[Any, ...]] = []
    for i in np.flatnonzero(data.sampled):
        pk = int(i) + 1
        at = _ts(data.when(int(i)), sqlite)
        seg = int(data.segment[i])
        incl = float(data.incl[i])
        for rep in (0, 1) if data.noisy[i] else (0,):
            runs.append(
                (len(runs) + 1, pk, rep, "ok", "recorded", "big", "a", 1500.0, 0.01, 100, 60, 1, at)
            )
        kinds = [("gap", bool(data.gap_win[i]))]
        if data.noisy[i]:
            kinds.append(("noise", bool(data.noise_win[i])))
        for kind, won in kinds:
            verdicts.append(
                (
                    len(verdicts) + 1,
                    pk,
                    seg,
                    kind,
                    "answer-match",
                    "flagship" if won else "tie",
                    1.0 if won else 0.0,
                    incl,
                    "{}",
                    "bench",
                    0,
                    0,
                    0.0,
                    0.0,
                    at,
                )
            )
    return runs, verdicts


def _copy_text(rows: Iterable[tuple[Any, ...]]) -> Iterator[str]:
    buffer = io.StringIO()
    for count, row in enumerate(rows, start=1):
        buffer.write("\t".join("\\N" if v is None else str(v) for v in row))
        buffer.write("\n")
        if count % 50_000 == 0:
            yield buffer.getvalue()
            buffer = io.StringIO()
    yield buffer.getvalue()


def load(engine: Engine, data: Data) -> None:
    sqlite = engine.dialect.name == "sqlite"
    models.Base.metadata.create_all(engine)
    with Session(engine) as session:
        session.add_all(
            models.Segment(id=s, key=f"tenant=t{s:03d}", dimensions={"tenant": f"t{s:03d}"})
            for s in range(1, data.n_segments + 1)
        )
        session.commit()
    runs, verdicts = pair_rows(data, sqlite)
    # Secondary indexes are built after the load: one sort each instead of a million random
    # B-tree inserts (the schema the report then runs against is the same).
    tables = [
        models.Base.metadata.tables[name] for name in ("traffic_events", "shadow_runs", "verdicts")
    ]
    indexes = [index for table in tables for index in table.indexes]
    for index in indexes:
        index.drop(engine)
    sources: list[tuple[str, str, Iterable[tuple[Any, ...]]]] = [
        ("traffic_events", EVENT_COLUMNS, event_rows(data, sqlite)),
        ("shadow_runs", RUN_COLUMNS, runs),
        ("verdicts", VERDICT_COLUMNS, verdicts),
    ]
    raw = engine.raw_connection()
    try:
        # The driver's own cursor: sqlite3's executemany or psycopg's COPY.
        cursor: Any = raw.driver_connection.cursor()  # type: ignore[union-attr]
        for table, columns, rows in sources:
            if sqlite:
                marks = ", ".join("?" for _ in columns.split(","))
                cursor.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", rows)
            else:
                with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                    for chunk in _copy_text(rows):
                        copy.write(chunk)
        raw.commit()
    finally:
        raw.close()
    for index in indexes:
        index.create(engine)
    with Session(engine) as session:
        # A handful of alerts, opened and resolved in week two, for the alerts section.
        for seg in range(1, DRIFTING + 1):
            session.add(
                models.Alert(
                    segment_id=seg,
                    signal="quality_gap",
                    status="open",
                    severity="error",
                    evidence={},
                    opened_at=START + WEEK + timedelta(days=2),
                )
            )
        session.add(
            models.Alert(
                segment_id=DRIFTING + 1,
                signal="latency",
                status="resolved",
                severity="warning",
                evidence={},
                opened_at=START + timedelta(days=3),
                resolved_at=START + WEEK + timedelta(days=1),
                resolved_by="auto",
            )
        )
        session.commit()
    with engine.connect() as conn:
        conn.execute(text("ANALYZE"))
        conn.commit()


def baseline(engine: Engine) -> float:
    """A plain GROUP BY over both weeks: the scan every per-segment summary needs."""
    started = time.perf_counter()
    with engine.connect() as conn:
        conn.execute(
            text(
                "SELECT segment_id, count(*), avg(latency_ms), sum(cost_usd) "
                "FROM traffic_events WHERE occurred_at >= :a AND occurred_at < :b "
                "GROUP BY segment_id"
            ),
            {"a": START, "b": START + 2 * WEEK},
        ).all()
    return time.perf_counter() - started


def run(url: str, n_events: int, n_segments: int, workers: int | None) -> None:
    t0 = time.perf_counter()
    data = Data(n_events, n_segments)
    print(f"generated {n_events:,} events in {time.perf_counter() - t0:.1f}s", flush=True)
    engine = make_engine(url)
    t0 = time.perf_counter()
    load(engine, data)
    print(f"loaded in {time.perf_counter() - t0:.1f}s", flush=True)

    t0 = time.perf_counter()
    from shadowgap.reporting import build_weekly_report

    print(f"import evidently: {time.perf_counter() - t0:.1f}s (once per process)", flush=True)
    baseline(engine)  # warm the cache so both timings read the same buffers
    base = min(baseline(engine) for _ in range(3))
    with Session(engine) as session:
        t0 = time.perf_counter()
        report = build_weekly_report(
            session, START + WEEK, START + 2 * WEEK, Settings(), workers=workers
        )
        seconds = time.perf_counter() - t0
        summary = report.summary
        session.rollback()
    engine.dispose()
    top = [row["key"] for row in summary["segments"][:DRIFTING]]
    drifting = {f"tenant=t{s:03d}" for s in range(1, DRIFTING + 1)}
    ranks = {row["key"]: row for row in summary["segments"]}
    found = [
        f"{key} #{ranks[key]['rank']} {ranks[key]['drifted_signals']}" for key in sorted(drifting)
    ]
    false_flags = [
        f"{row['key']} {row['drifted_signals']}"
        for row in summary["segments"]
        if row["drifted_signals"] and row["key"] not in drifting
    ]
    print(f"baseline GROUP BY scan: {base:.3f}s")
    print(f"build_weekly_report: {seconds:.2f}s  ratio to baseline: {seconds / base:.1f}x")
    print(f"breakdown: {summary['timings_seconds']}")
    print(
        f"segments: {summary['totals']['segments']}, with Evidently: "
        f"{summary['totals']['segments_with_evidently']}, with drift: "
        f"{summary['totals']['segments_with_drift']}, html: {len(report.html) / 1e6:.1f} MB"
    )
    print(f"top {DRIFTING} ranked: {top}")
    print(f"drifting segments (rank, flagged): {found}")
    print(f"flags on stable segments: {false_flags or 'none'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sqlite", action="store_true", help="use a SQLite file instead")
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--segments", type=int, default=100)
    parser.add_argument("--workers", type=int, default=None, help="Evidently processes")
    args = parser.parse_args()
    if args.sqlite:
        with tempfile.TemporaryDirectory() as tmp:
            run(f"sqlite:///{tmp}/bench.db", args.events, args.segments, args.workers)
        return
    server = os.environ.get("SHADOWGAP_BENCH_POSTGRES_URL", DEFAULT_PG)
    admin_dsn = make_url(server).set(drivername="postgresql").render_as_string(False)
    with psycopg.connect(admin_dsn, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
        admin.execute(f"CREATE DATABASE {BENCH_DB}")
    try:
        url = make_url(server).set(database=BENCH_DB).render_as_string(False)
        run(url, args.events, args.segments, args.workers)
    finally:
        with psycopg.connect(admin_dsn, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")


if __name__ == "__main__":
    main()
