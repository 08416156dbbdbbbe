"""A live API (its own uvicorn process, tests/live_api.py) and a prober, in a process of its
own, that asks ``/healthz`` every 10 ms while a test sends the API work: what a sender sharing
the server would see (a thread of the test process would also wait for the test's GIL)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.live_api import start_api
from tests.support.processes import free_port
from tests.support.settings import ROOT, migrate


@contextmanager
def live_api(tmp_path: Path) -> Iterator[str]:
    """The API on SQLite files of its own, in a process of its own."""
    database = f"sqlite:///{tmp_path}/live.db"
    migrate(database)
    port = free_port()
    broker = f"sqla+sqlite:///{tmp_path}/broker.db"
    process = start_api(port, database, broker, tmp_path / "api.log")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=30)


# The prober: GET /healthz every 10 ms until its stdin closes, then print the durations and
# when each probe started (wall clock, to tell which request was in flight).
_PROBER = """
import json, sys, threading, time
import httpx
url, done, seconds, started_at = sys.argv[1], threading.Event(), [], []
threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
with httpx.Client(timeout=30) as client:
    while not done.is_set():
        started_at.append(time.time())
        started = time.perf_counter()
        client.get(url + "/healthz").raise_for_status()
        seconds.append(time.perf_counter() - started)
        time.sleep(0.01)
print(json.dumps({"seconds": seconds, "started": started_at}))
"""


class HealthProbe:
    """Times ``GET /healthz`` every 10 ms from another process until the block ends."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.seconds: list[float] = []
        self.started: list[float] = []
        self._process: subprocess.Popen[str] | None = None

    def __enter__(self) -> HealthProbe:
        self._process = subprocess.Popen(
            [sys.executable, "-c", _PROBER, self.url],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._process is not None
        output, _ = self._process.communicate(timeout=60)
        probes = json.loads(output) if output.strip() else {"seconds": [], "started": []}
        self.seconds, self.started = probes["seconds"], probes["started"]

    def p99(self) -> float:
        ordered = sorted(self.seconds)
        return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
