"""Group commit for ingest: concurrent requests share one database transaction.

A webhook sender that posts one event per request would otherwise pay a transaction (several
round trips and a commit flush) per event. Requests queue here after validation; one writer
task per process takes everything queued, stores it in one transaction, and answers each
request with its own counts. Under light load a group holds one request and nothing waits;
under heavy load groups grow and the per-event cost falls. A request waits at most for the
rest of the group being written when it arrives, then for its own group (each at most
MAX_GROUP_EVENTS events, or one larger request alone); nothing waits on a timer.

A request is failed only by its own events. Requests are validated in full before they
queue here (everything the database could refuse is checked by the schema), and if a
group's transaction fails anyway, each of its requests is retried alone, so that one
request's fault costs only that request. Database errors become domain errors: the database
down, restarting, busy or deadlocked is a 503 with Retry-After (nothing or everything of the
request was stored; ingest is idempotent, so the sender's retry is safe); a value the database
refuses is a 422.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from fastapi.concurrency import run_in_threadpool
from sqlalchemy import Connection
from sqlalchemy import exc as sa_exc

from shadowgap import metrics
from shadowgap.config import get_settings
from shadowgap.db import segment_counts
from shadowgap.db.engine import get_engine, get_sessionmaker, is_unavailable
from shadowgap.errors import InvalidInput, ShadowgapError, Unavailable
from shadowgap.ingest.store import IngestRequest, StoredBatch, clear_caches, store_requests
from shadowgap.shadow.enqueue import enqueue_decisions
from shadowgap.worker import queue

log = logging.getLogger(__name__)
MAX_GROUP_EVENTS = 5000


@dataclass
class _Pending:
    request: IngestRequest
    future: asyncio.Future[StoredBatch]


class GroupWriter:
    """One per API process; bound to the event loop it first runs on."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[None]] = set()

    async def submit(self, request: IngestRequest) -> StoredBatch:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # a new loop (tests, reloads): start afresh on it
            self._loop, self._queue = loop, asyncio.Queue()
            self._task = None
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run())
        future: asyncio.Future[StoredBatch] = asyncio.get_running_loop().create_future()
        await self._queue.put(_Pending(request, future))
        return await future

    async def _run(self) -> None:
        while True:
            group = [await self._queue.get()]
            size = len(group[0].request.events)
            while size < MAX_GROUP_EVENTS and not self._queue.empty():
                pending = self._queue.get_nowait()
                group.append(pending)
                size += len(pending.request.events)
            await self._write(group)

    async def _write(self, group: list[_Pending]) -> None:
        try:
            results, totals = await run_in_threadpool(self._store, [p.request for p in group])
        except Exception as exc:  # noqa: BLE001 - answered below, alone or per request
            clear_caches()
            if len(group) == 1:
                _fail(group[0], exc)
                return
            log.warning(
                "group write failed; retrying its requests one by one",
                extra={"error": type(exc).__name__, "requests": len(group)},
            )
            for pending in group:
                await self._write([pending])
            return
        for pending, result in zip(group, results, strict=True):
            if not pending.future.done():
                pending.future.set_result(result)
        metrics.INGEST_GROUP_SIZE.observe(len(group))
        # Jobs go to the broker in the background: the events are durable already, and an
        # unreachable broker must not hold up ingest (the outbox sweep re-sends). Most groups
        # have nothing to send (no event sampled, drift updates asked for seconds ago): they
        # skip the hop to a worker thread.
        if not totals.decision_ids and not queue.drift_update_due(totals.segment_ids):
            return
        task = asyncio.create_task(run_in_threadpool(_after_commit, totals))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    @staticmethod
    def _store(requests: list[IngestRequest]) -> tuple[list[StoredBatch], StoredBatch]:
        # One connection for the group's transaction and the fold after it: a pool checkout
        # (with its liveness ping) per group instead of two.
        with get_engine().connect() as connection:
            with get_sessionmaker()(bind=connection) as session:
                stored = store_requests(session, requests, get_settings(), datetime.now(UTC))
                session.commit()
            _fold_counts(connection)
        return stored


def _fold_counts(connection: Connection) -> None:
    """Fold the segment counters after the commit, before answering, in a transaction of its
    own: a sender that reads its segment's counts next sees its events. A failure loses
    nothing (the deltas wait for the next fold or the drift sweep). On PostgreSQL the fold is
    one statement, atomic by itself, so it runs in autocommit: one round trip instead of BEGIN,
    fold and COMMIT (the pool resets the connection's isolation level when it is returned).
    SQLite has nothing to fold, and there resetting the isolation level would turn the
    driver's own transaction handling back on for the pooled connection."""
    try:
        if connection.dialect.name == "postgresql":
            connection = connection.execution_options(isolation_level="AUTOCOMMIT")
        with get_sessionmaker()(bind=connection) as session:
            segment_counts.fold(session)
            session.commit()
    except Exception as exc:  # noqa: BLE001 - the events and their deltas are stored
        log.warning("could not fold segment counts", extra={"error": type(exc).__name__})


def _fail(pending: _Pending, exc: Exception) -> None:
    if not pending.future.done():
        pending.future.set_exception(as_domain_error(exc))


def as_domain_error(exc: Exception) -> Exception:
    """What a failed write means to the sender (see the module docstring)."""
    if isinstance(exc, ShadowgapError):
        return exc
    if is_unavailable(exc):
        log.warning("database unavailable during ingest", extra={"error": type(exc).__name__})
        return Unavailable("the database is unavailable; retry later")
    if isinstance(exc, sa_exc.DataError):
        # The schema should have refused the value already; say what the database said.
        reason = str(getattr(exc, "orig", exc)).splitlines()[0][:200]
        return InvalidInput(f"the database refused a value of this request: {reason}", field="body")
    return exc


def _after_commit(batch: StoredBatch) -> None:
    try:
        enqueue_decisions(batch.decision_ids)
        if batch.segment_ids:
            queue.request_drift_update(batch.segment_ids)
    except Exception as exc:  # noqa: BLE001 - the events are stored; the sweep retries
        metrics.ENQUEUE_FAILURES.inc()
        log.warning("could not enqueue after ingest", extra={"error": type(exc).__name__})
