"""Two API processes creating the same new segments in different orders must not deadlock.

Each transaction inserts the segment keys it has not seen; a key inserted by one transaction
and not yet committed makes the other wait for it. Inserted in event order, two batches with
the same new tenants in opposite orders each hold a key the other waits for, and PostgreSQL
kills one of them (a 500 for that sender before the fix).
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from shadowgap.config import get_settings
from shadowgap.db.engine import session_scope
from shadowgap.ingest.store import IngestRequest, clear_caches, store_requests
from shadowgap.schemas import TrafficEvent
from tests.support.factories import native_event

ROUNDS = 6
NEW_SEGMENTS = 300


def test_reversed_orders_of_new_segments_do_not_deadlock(production: str) -> None:
    settings = get_settings()
    now = datetime.now(UTC)
    failures: list[BaseException] = []
    for round_ in range(ROUNDS):
        tenants = [f"r{round_}-tenant-{i:03d}" for i in range(NEW_SEGMENTS)]
        orders = {"forward": tenants, "backward": tenants[::-1]}
        batches = {
            side: [
                TrafficEvent.model_validate(native_event(f"{round_}-{side}-{t}", tenant=t))
                for t in order
            ]
            for side, order in orders.items()
        }
        barrier = threading.Barrier(len(batches))

        def write(events: list[TrafficEvent], barrier: threading.Barrier) -> None:
            barrier.wait()
            try:
                with session_scope() as session:
                    store_requests(session, [IngestRequest(events, "native")], settings, now)
            except BaseException as exc:  # noqa: BLE001 - collected for the assertion
                failures.append(exc)
                clear_caches()

        threads = [threading.Thread(target=write, args=(b, barrier)) for b in batches.values()]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        # Both processes' caches start cold in every round, as in two fresh API processes.
        clear_caches()
    assert failures == [], f"{len(failures)} of {2 * ROUNDS} writes failed: {failures[0]!r}"
