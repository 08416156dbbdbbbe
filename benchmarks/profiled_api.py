"""The API app with its ingest stages timed: where a single-event request's CPU goes.

``benchmarks/ingest.py --only single --profile OUT`` starts the API with this factory instead
of ``shadowgap.api.app:create_app``. The functions a ``POST /v1/events`` request runs are
wrapped, each wrapper adding the CPU time of the thread it runs on (``time.thread_time``)
between entry and exit: waiting for PostgreSQL, Redis or the GIL counts nowhere. Only
outermost calls are counted, and only synchronous code (an ``await`` inside a timed span would
count other requests' work: the async stages timed here do not suspend on the path measured).
A tracing profiler (cProfile) was tried first: its cost per Python call inflated the
many-small-calls stages several times over and slowed the server fifty-fold.

When the app shuts down (the benchmark stops the server with SIGTERM) the totals go to
``SHADOWGAP_PROFILE_OUT`` as JSON for :func:`stage_table`. The event loop's own thread and
the other threads' total CPU come from ``/proc`` (the benchmark reads them per thread).
"""

from __future__ import annotations

import functools
import importlib
import inspect
import json
import os
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

# (label, module the caller looks the name up in, attribute). Indented rows are inside the
# row above them. "loop": runs on the event loop's thread; "thread": in the threadpool.
STAGES = [
    ("loop", "API key check", "shadowgap.api.routes.ingest", "check_api_key"),
    ("loop", "compressed-body check", "shadowgap.api.routes.ingest", "_refuse_compressed"),
    ("loop", "signature, parse, redaction", "shadowgap.api.routes.ingest", "_verify_and_parse"),
    ("loop", "  parse + validate (pydantic)", "shadowgap.api.routes.ingest", "parse_native"),
    ("loop", "  answer checks + redaction", "shadowgap.api.routes.ingest", "prepare_request"),
    ("loop", "response model (FastAPI)", "fastapi.routing", "serialize_response"),
    ("thread", "group transaction + fold", "shadowgap.ingest.writer", "GroupWriter._store"),
    ("thread", "  store_requests", "shadowgap.ingest.writer", "store_requests"),
    (
        "thread",
        "    mark + purged ids + cheap counts (SQL)",
        "shadowgap.ingest.store",
        "_open_ingest",
    ),
    ("thread", "    event horizon mark (SQL)", "shadowgap.db.event_horizon", "mark_ingest"),
    ("thread", "    purged-id check (SQL)", "shadowgap.ingest.store", "purged_ids"),
    ("thread", "    segment ids", "shadowgap.ingest.store", "_segment_cache.resolve"),
    ("thread", "    cheap counts read (SQL)", "shadowgap.db.segment_counts", "cheap_counts"),
    ("thread", "    event rows", "shadowgap.ingest.store", "_event_row"),
    ("thread", "    event insert (SQL)", "shadowgap.ingest.store", "_insert_events"),
    ("thread", "    slice features", "shadowgap.ingest.store", "store_slice_features"),
    ("thread", "    sampling", "shadowgap.ingest.store", "_sample"),
    ("thread", "      traffic totals (SQL)", "shadowgap.ingest.store", "traffic_totals"),
    ("thread", "      allocation plan", "shadowgap.shadow.sampling", "plan_allocation"),
    ("thread", "    counter deltas (SQL)", "shadowgap.db.segment_counts", "add"),
    ("thread", "  commit", "sqlalchemy.orm", "Session.commit"),
    ("thread", "  counter fold (own statement)", "shadowgap.ingest.writer", "_fold_counts"),
    ("thread", "after commit: broker sends", "shadowgap.ingest.writer", "_after_commit"),
]

_totals: dict[str, float] = {label: 0.0 for _, label, _, _ in STAGES}
_local = threading.local()


def _timed(label: str, function: Any) -> Any:
    def enter() -> tuple[set[str], float] | None:
        active: set[str] = _local.__dict__.setdefault("active", set())
        if label in active:
            return None
        active.add(label)
        return active, time.thread_time()

    def leave(entered: tuple[set[str], float] | None) -> None:
        if entered is not None:
            active, started = entered
            _totals[label] += time.thread_time() - started
            active.discard(label)

    if inspect.iscoroutinefunction(function):

        @functools.wraps(function)
        async def timed_async(*args: Any, **kwargs: Any) -> Any:
            entered = enter()
            try:
                return await function(*args, **kwargs)
            finally:
                leave(entered)

        return timed_async

    @functools.wraps(function)
    def timed(*args: Any, **kwargs: Any) -> Any:
        entered = enter()
        try:
            return function(*args, **kwargs)
        finally:
            leave(entered)

    return timed


def _patch() -> None:
    for _, label, module_name, attribute in STAGES:
        target: Any = importlib.import_module(module_name)
        *path, name = attribute.split(".")
        for part in path:
            target = getattr(target, part)
        if not hasattr(target, name):  # a checkout without this stage (e.g. the baseline's)
            continue
        function = inspect.getattr_static(target, name)
        if isinstance(function, staticmethod):
            setattr(target, name, staticmethod(_timed(label, function.__func__)))
        else:
            setattr(target, name, _timed(label, getattr(target, name)))


def create_app() -> Any:
    from shadowgap.api.app import create_app as real

    _patch()
    app = real()
    inner = app.router.lifespan_context

    # Written when the app shuts down: uvicorn re-raises SIGTERM after its shutdown, which
    # ends the process without running atexit handlers.
    @asynccontextmanager
    async def lifespan(app_: Any) -> AsyncIterator[None]:
        async with inner(app_):
            yield
        with open(os.environ["SHADOWGAP_PROFILE_OUT"], "w") as out:
            json.dump(_totals, out)

    app.router.lifespan_context = lifespan
    return app


def stage_table(path: str, requests: int) -> list[tuple[str, str, float]]:
    """(where, label, us of CPU per request) for each stage."""
    with open(path) as handle:
        totals = json.load(handle)
    return [(where, label, totals[label] / requests * 1e6) for where, label, _, _ in STAGES]
