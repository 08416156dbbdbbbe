"""/readyz/workers says when no worker has been seen: workers beat from their consumer loop."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.support.processes import wait_for


def test_readyz_workers_follows_the_workers_heartbeats(
    embedded: str, configure, client: TestClient, start_worker
) -> None:
    configure(worker_stale_seconds=10)
    none = client.get("/readyz/workers")
    assert none.status_code == 503 and none.json()["status"] == "no worker seen"
    assert client.get("/readyz").status_code == 200  # ingest stays ready meanwhile

    worker = start_worker()
    wait_for(lambda: client.get("/readyz/workers").status_code == 200, timeout=60)
    seen = client.get("/readyz/workers").json()
    assert seen["alive"] == 1 and seen["last_seen_seconds_ago"] < 30
    assert client.get("/readyz").json()["workers"]["alive"] == 1

    worker.kill()  # SIGKILL: no goodbye, the beats just stop
    wait_for(lambda: client.get("/readyz/workers").status_code == 503, timeout=60)
    assert client.get("/readyz/workers").json()["alive"] == 0
