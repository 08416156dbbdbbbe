"""Where an ingested event's CPU goes: the ingest pipeline profiled in-process, stage by stage.

Runs the stages a POST /v1/events request runs after the HTTP layer (parse and validate,
answer checks, redaction, then the store in one PostgreSQL transaction, the commit, and the
counter fold where the code has one) on batches of native events like benchmarks/ingest.py's
(the same GSM8K event, new ids), each stage timed with the process CPU clock. Prints
microseconds of this process's CPU per event for each stage, the total, and the wall time per
event (which adds PostgreSQL's side and the round trips). SQL stages count the driver's and
SQLAlchemy's CPU in this process, not the server's; the server's own CPU is printed apart:
the CPU of the PostgreSQL backends serving this run's database (read from /proc, so the
server must run on this machine), per event. Shared server processes (WAL writer,
checkpointer) are not in it. API-process CPU plus backend CPU per event, against the 2 cores,
is what bounds the HTTP benchmark's rate (with the HTTP layer's and wrk's CPU on top).

It measures, it does not judge: no target, exit 0. ``--source DIR`` profiles another checkout
(e.g. main, for a before/after table in the same conditions). ``--rows N`` cycles through N
GSM8K rows instead of repeating one event (distinct prompts and answers: the work a batch of
real traffic cannot share; the router's reason and the attributes still repeat).

The cyclic garbage collector's own CPU is printed apart too (from ``gc.callbacks``: every
collection's CPU, and the full ones'), whichever stage it ran in. ``--gc api`` settles the heap
as the API process does at start-up (``shadowgap.api.app.settle_heap``: collect, freeze, and
whatever thresholds it sets) before the timed batches; ``--gc default`` (the default) leaves
the interpreter as it starts, which is what a script or a worker sees.

Usage: python benchmarks/ingest_profile.py [--batches 60] [--batch 100] [--rows 1] [--source DIR]
                                           [--gc default|api]
"""

from __future__ import annotations

import argparse
import gc
import importlib
import json
import os
import sys
import time
import types
import uuid
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.proc_cpu import cpu_seconds  # noqa: E402

ADMIN_DSN = os.environ.get(
    "SHADOWGAP_BENCH_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres"
)

# (label, module, attribute): the stages, timed by wrappers around the functions the pipeline
# calls (a tracing profiler's per-call cost would swamp the character loops of the linear-time
# text scans). "of which" rows are inside the row above them.
STAGES = [
    ("answer checks", "shadowgap.ingest.store", "answer_checks"),
    ("redaction", "shadowgap.ingest.store", "redact_batch"),
    ("mark + purged ids + cheap counts (SQL)", "shadowgap.ingest.store", "_open_ingest"),
    ("purged-id check (SQL)", "shadowgap.ingest.store", "purged_ids"),
    ("segment keys", "shadowgap.ingest.store", "segment_of"),
    ("segment id resolution", "shadowgap.ingest.store", "_segment_cache.resolve"),
    ("counter update + lock (SQL)", "shadowgap.ingest.store", "_count_segments"),
    ("cheap counts read (SQL)", "shadowgap.db.segment_counts", "cheap_counts"),
    ("event rows", "shadowgap.ingest.store", "_event_row"),
    ("  of which prompt hash", "shadowgap.ingest.store", "prompt_hash"),
    ("event insert (SQL)", "shadowgap.ingest.store", "_insert_events"),
    ("  of which JSON encoding", "shadowgap.ingest.store", "orjson.dumps"),
    ("slice features", "shadowgap.ingest.store", "store_slice_features"),
    ("  of which computing them", "shadowgap.slices.store", "compute_features"),
    ("sampling", "shadowgap.ingest.store", "_sample"),
    ("originals kept", "shadowgap.ingest.store", "_keep_originals"),
    ("counter deltas (SQL)", "shadowgap.db.segment_counts", "add"),
]


class _GcTimer:
    """Process CPU spent in cyclic garbage collections (``gc.callbacks``), all and full."""

    def __init__(self) -> None:
        self.seconds = self.full_seconds = 0.0
        self.collections = self.full = 0
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.process_time()
            return
        spent = time.process_time() - self._started
        self.seconds += spent
        self.collections += 1
        if info["generation"] == 2:
            self.full_seconds += spent
            self.full += 1


class _Timer:
    """Process CPU spent inside one function (outermost calls only)."""

    def __init__(self, function: Any) -> None:
        self.function = function
        self.seconds = 0.0
        self.depth = 0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.depth:
            return self.function(*args, **kwargs)
        self.depth += 1
        started = time.process_time()
        try:
            return self.function(*args, **kwargs)
        finally:
            self.seconds += time.process_time() - started
            self.depth -= 1


def _patch(module_name: str, attribute: str) -> _Timer | None:
    """Wrap ``module.attribute`` (dotted: an attribute of an object in the module)."""
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError:
        return None
    *path, name = attribute.split(".")
    for part in path:
        target = getattr(target, part, None)
        if target is None:
            return None
    function = getattr(target, name, None)
    if function is None:
        return None
    if isinstance(target, types.ModuleType) and target.__name__ == "orjson":
        # A C module's attribute: give store.py its own namespace to look dumps up in.
        shim = types.SimpleNamespace(**{k: getattr(target, k) for k in dir(target)})
        timer = _Timer(function)
        shim.dumps = timer
        setattr(importlib.import_module(module_name), path[0], shim)
        return timer
    timer = _Timer(function)
    setattr(target, name, timer)
    return timer


def _database() -> str:
    name = f"shadowgap_prof_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    return name


def _backends_cpu(name: str) -> float:
    """CPU seconds so far of the PostgreSQL backends connected to database ``name``."""
    with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
        pids = [
            pid
            for (pid,) in admin.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s", (name,)
            )
        ]
    return sum(cpu_seconds(pid) or 0.0 for pid in pids)


def _drop(name: str) -> None:
    with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=60)
    parser.add_argument("--batch", type=int, default=100, help="events per request")
    parser.add_argument("--rows", type=int, default=1, help="distinct GSM8K rows cycled")
    parser.add_argument("--source", type=Path, default=ROOT, help="checkout to profile")
    parser.add_argument(
        "--gc", choices=["default", "api"], default="default", help="see the module docstring"
    )
    args = parser.parse_args()
    sys.path.insert(0, str(args.source.resolve()))
    sys.path.insert(1, str(ROOT))  # tests.support (event builders) from this checkout

    name = _database()
    url = ADMIN_DSN.replace("postgresql://", "postgresql+psycopg://").rsplit("/", 1)[0]
    os.environ["SHADOWGAP_DATABASE_URL"] = f"{url}/{name}"
    try:
        return _run(args, name)
    finally:
        from shadowgap.db.engine import reset_caches

        reset_caches()
        _drop(name)


def _run(args: argparse.Namespace, database: str) -> int:
    from datetime import UTC, datetime

    import shadowgap
    from shadowgap.config import get_settings
    from shadowgap.db.engine import session_scope
    from shadowgap.db.migrate import upgrade
    from shadowgap.ingest.native import parse_native
    from shadowgap.ingest.store import prepare_request, store_requests
    from tests.support.factories import native_event

    try:
        from shadowgap.db import segment_counts

        fold = segment_counts.fold
    except ImportError:  # a checkout without counter deltas
        fold = None

    upgrade()
    settings = get_settings()
    templates = [json.dumps(native_event("__ID__", row=row)) for row in range(args.rows)]

    def body(index: int) -> bytes:
        events = [
            templates[(index * args.batch + i) % args.rows].replace("__ID__", f"p-{index}-{i}")
            for i in range(args.batch)
        ]
        return ("[" + ",".join(events) + "]").encode()

    parse = _Timer(parse_native)
    commit = _Timer(lambda: None)
    folds = _Timer(lambda: None)

    def one(index: int) -> None:
        events = parse(body(index))
        prepared = prepare_request(events, "native", settings)
        with session_scope() as session:
            store_requests(session, [prepared], settings, datetime.now(UTC))
            commit.seconds -= time.process_time()
        commit.seconds += time.process_time()
        if fold is not None:
            started = time.process_time()
            with session_scope() as session:
                fold(session)
            folds.seconds += time.process_time() - started

    for index in range(5):  # warm-up: connections, statement caches, segment cache
        one(-1 - index)
    if args.gc == "api":
        from shadowgap.api.app import settle_heap

        settle_heap()
    collector = _GcTimer()
    gc.callbacks.append(collector)
    timers = [(label, _patch(module, attribute)) for label, module, attribute in STAGES]
    parse.seconds = commit.seconds = folds.seconds = 0.0
    bodies = args.batches * args.batch
    server0 = _backends_cpu(database)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for index in range(args.batches):
        one(index)
    cpu = time.process_time() - cpu0
    wall = time.perf_counter() - wall0
    server = _backends_cpu(database) - server0
    gc.callbacks.remove(collector)

    rows = [("parse + validate (pydantic)", parse), *timers]
    rows += [("commit", commit), ("counter fold (own transaction)", folds if fold else None)]
    print(f"source: {Path(shadowgap.__file__).parent.parent}")
    print(
        f"{args.batches} requests x {args.batch} native events ({args.rows} distinct), PostgreSQL"
    )
    print(f"{'stage':40} {'us CPU/event':>13}")
    for label, timer in rows:
        shown = f"{1e6 * timer.seconds / bodies:13.1f}" if timer else f"{'-':>13}"
        print(f"{label:40} {shown}")
    print(f"{'total CPU of this process':40} {1e6 * cpu / bodies:13.1f}")
    print(
        f"{'  of which garbage collection':40} {1e6 * collector.seconds / bodies:13.1f}"
        f"  ({collector.collections} collections, gc thresholds {gc.get_threshold()},"
        f" {gc.get_freeze_count()} objects frozen)"
    )
    print(
        f"{'  of which full collections':40} {1e6 * collector.full_seconds / bodies:13.1f}"
        f"  ({collector.full} full)"
    )
    print(f"{'PostgreSQL backends CPU per event':40} {1e6 * server / bodies:13.1f}")
    print(f"{'wall time per event':40} {1e6 * wall / bodies:13.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
