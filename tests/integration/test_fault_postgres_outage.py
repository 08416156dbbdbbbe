"""PostgreSQL stopped for 20 s during ingest (a clean fast shutdown, and a crash): senders get
503 + Retry-After, never a hang, a 500 or a reset connection, and every event that got a 2xx is
stored exactly once.

A real uvicorn server ingests into a PostgreSQL server of the test's own, which is stopped
while four senders post batches on keep-alive connections, then started again.
Senders behave like LiteLLM or `shadowgap replay`: a batch answered 503 is sent again after
Retry-After, with the same event ids. The figures go into the README's "Faults" table.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.support.factories import native_event
from tests.support.live_api import start_api
from tests.support.processes import free_port
from tests.support.settings import API_KEY, migrate
from tests.support.throwaway_postgres import ThrowawayPostgres

OUTAGE_SECONDS = 20
SENDERS = 4
BATCH = 5
REQUEST_TIMEOUT = 30.0


@pytest.fixture
def postgres() -> Iterator[ThrowawayPostgres]:
    server = ThrowawayPostgres()
    yield server
    server.destroy()


@dataclass
class Sender:
    number: int
    acknowledged: list[str] = field(default_factory=list)
    sent_ids: set[str] = field(default_factory=set)
    statuses: dict[int, int] = field(default_factory=dict)
    unavailable_without_retry_after: int = 0
    not_json: int = 0
    errors: list[str] = field(default_factory=list)
    slowest: float = 0.0

    def run(self, url: str, done: threading.Event) -> None:
        headers = {"Authorization": f"Bearer {API_KEY}"}
        with httpx.Client(base_url=url, headers=headers, timeout=REQUEST_TIMEOUT) as client:
            batch_number = 0
            while not done.is_set():
                ids = [f"s{self.number}-b{batch_number}-{i}" for i in range(BATCH)]
                batch_number += 1
                body = [native_event(event_id, row=i) for i, event_id in enumerate(ids)]
                self.sent_ids.update(ids)
                # Like a real sender: retry the same batch until it is acknowledged.
                while True:
                    started = time.monotonic()
                    try:
                        response = client.post("/v1/events", json=body)
                    except httpx.HTTPError as exc:  # a hang (timeout) or a reset connection
                        self.errors.append(f"{type(exc).__name__}: {exc}")
                        time.sleep(1)
                        continue
                    self.slowest = max(self.slowest, time.monotonic() - started)
                    status = response.status_code
                    self.statuses[status] = self.statuses.get(status, 0) + 1
                    if not response.headers.get("content-type", "").startswith("application/json"):
                        self.not_json += 1
                    if 200 <= status < 300:
                        self.acknowledged.extend(ids)
                        break
                    retry_after = response.headers.get("retry-after")
                    if status == 503 and retry_after is None:
                        self.unavailable_without_retry_after += 1
                    time.sleep(float(retry_after or 1))


@pytest.mark.parametrize("shutdown", ["fast", "immediate"])
def test_postgres_outage_gives_503_and_loses_nothing(
    postgres: ThrowawayPostgres, redis_url: str, tmp_path: Path, shutdown: str
) -> None:
    database_url = postgres.create_database("shadowgap")
    migrate(database_url)
    port = free_port()
    api = start_api(port, database_url, redis_url, tmp_path / "api.log")
    senders = [Sender(number) for number in range(SENDERS)]
    try:
        done = threading.Event()
        threads = [
            threading.Thread(target=s.run, args=(f"http://127.0.0.1:{port}", done)) for s in senders
        ]
        for thread in threads:
            thread.start()
        # Stop the database only once every sender is in full flow.
        deadline = time.monotonic() + 120
        while not all(s.acknowledged for s in senders) and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(2)
        postgres.stop(shutdown)
        time.sleep(OUTAGE_SECONDS)
        postgres.start()
        time.sleep(10)
        done.set()
        for thread in threads:
            thread.join(timeout=120)
        assert not any(thread.is_alive() for thread in threads), "a sender hung"
    finally:
        api.terminate()
        api.wait(timeout=30)

    with psycopg.connect(database_url.replace("+psycopg", "")) as conn:
        rows = conn.execute("SELECT event_id, count(*) FROM traffic_events GROUP BY 1").fetchall()
    stored = {event_id: count for event_id, count in rows}
    acknowledged = [event_id for s in senders for event_id in s.acknowledged]
    sent = set().union(*(s.sent_ids for s in senders))
    statuses: dict[int, int] = {}
    for s in senders:
        for status, n in s.statuses.items():
            statuses[status] = statuses.get(status, 0) + n
    lost = [event_id for event_id in acknowledged if event_id not in stored]
    duplicated = sum(count - 1 for count in stored.values())
    print(
        f"\nPostgreSQL outage ({OUTAGE_SECONDS} s, {shutdown} shutdown): events sent "
        f"{len(sent)}, acknowledged {len(acknowledged)}, stored {len(stored)}, "
        f"lost {len(lost)}, duplicated {duplicated}; "
        f"responses by status {dict(sorted(statuses.items()))}; slowest response "
        f"{max(s.slowest for s in senders):.2f} s; transport errors "
        f"{sum(len(s.errors) for s in senders)}"
    )

    assert [e for s in senders for e in s.errors] == [], "hangs or reset connections"
    assert set(statuses) <= {200, 503}, statuses
    assert statuses.get(503, 0) > 0, "the outage was not seen"
    assert sum(s.unavailable_without_retry_after for s in senders) == 0
    assert sum(s.not_json for s in senders) == 0
    assert lost == []
    assert duplicated == 0
    assert len(acknowledged) == len(set(acknowledged)) == len(sent) == len(stored)
