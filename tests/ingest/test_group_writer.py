"""The group-commit writer on PostgreSQL: one pool checkout per group for its transaction and
the counter fold, the fold done before the requests are answered, and the API process's GIL
switch interval (how long the writer's thread can wait for the event loop's) set at start-up."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import event, func, select

from shadowgap.api.app import GIL_SWITCH_INTERVAL_SECONDS, create_app
from shadowgap.db import models
from shadowgap.db.engine import get_engine, session_scope
from shadowgap.ingest.store import IngestRequest, StoredBatch
from shadowgap.ingest.writer import GroupWriter
from shadowgap.schemas import TrafficEvent
from shadowgap.worker import queue
from tests.support.factories import native_event


def _requests(prefix: str, n: int) -> list[IngestRequest]:
    return [
        IngestRequest([TrafficEvent.model_validate(native_event(f"{prefix}-{i}", row=i))], "native")
        for i in range(n)
    ]


def _submit_as_one_group(requests: list[IngestRequest]) -> list[Any]:
    async def submit_all() -> list[Any]:
        writer = GroupWriter()
        # Queued before the writer task first runs, so they form one group.
        tasks = [asyncio.create_task(writer.submit(request)) for request in requests]
        return await asyncio.gather(*tasks)

    return asyncio.run(submit_all())


def test_group_is_stored_and_folded_on_one_checkout(production: str) -> None:
    # A first group creates the segments (their ids are cached once committed elsewhere).
    _submit_as_one_group(_requests("warm", 2))
    checkouts: list[int] = []
    statements: list[str] = []
    engine = get_engine()

    def on_checkout(*_args: Any) -> None:
        checkouts.append(1)

    def on_statement(*args: Any) -> None:
        statements.append(str(args[2]))

    event.listen(engine.pool, "checkout", on_checkout)
    event.listen(engine, "before_cursor_execute", on_statement)
    try:
        stored = GroupWriter._store(_requests("group", 5))
    finally:
        event.remove(engine.pool, "checkout", on_checkout)
        event.remove(engine, "before_cursor_execute", on_statement)
    results, totals = stored
    assert [r.new for r in results] == [1] * 5
    assert totals.new == 5
    assert len(checkouts) == 1, f"{len(checkouts)} pool checkouts for one group"
    # The fold ran on that connection, after the group's commit.
    assert any("segment_count_deltas" in s and "locked" in s for s in statements), statements


def test_counts_are_folded_before_the_requests_are_answered(production: str) -> None:
    results = _submit_as_one_group(_requests("answered", 4))
    assert all(isinstance(r, StoredBatch) and r.new == 1 for r in results), results
    with session_scope() as session:
        counted = session.scalar(select(func.sum(models.Segment.event_count)))
        pending = session.scalar(select(func.count()).select_from(models.SegmentCountDelta))
    assert counted == 4
    assert pending == 0


def test_api_sets_the_gil_switch_interval(production: str) -> None:
    default = sys.getswitchinterval()
    try:
        sys.setswitchinterval(0.005)
        with TestClient(create_app()):
            assert sys.getswitchinterval() == GIL_SWITCH_INTERVAL_SECONDS
    finally:
        sys.setswitchinterval(default)


def test_a_drift_update_is_due_until_it_is_requested(production: str) -> None:
    """The writer skips its after-commit task only when no drift update is due: due for a
    segment never asked for, not due once asked (the debounce), due again for a new one."""
    queue.reset_producer()
    assert queue.drift_update_due({7})
    queue.request_drift_update({7})
    assert not queue.drift_update_due({7})
    assert queue.drift_update_due({7, 8})
