"""A live API (its own uvicorn process, tests/live_api.py) and a prober that asks ``/healthz``
every 10 ms while a test sends it work: what a sender sharing the server would see."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.conftest import migrate
from tests.live_api import start_api


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def live_api(tmp_path: Path) -> Iterator[str]:
    """The API on SQLite files of its own, in a process of its own."""
    database = f"sqlite:///{tmp_path}/live.db"
    migrate(database)
    port = free_port()
    process = start_api(
        port, database, f"sqla+sqlite:///{tmp_path}/broker.db", tmp_path / "api.log"
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=30)


class HealthProbe:
    """Times ``GET /healthz`` every 10 ms on a thread until stopped."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.seconds: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(timeout=30) as client:
            while not self._stop.is_set():
                started = time.perf_counter()
                client.get(f"{self.url}/healthz").raise_for_status()
                self.seconds.append(time.perf_counter() - started)
                time.sleep(0.01)

    def __enter__(self) -> HealthProbe:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=60)

    def p99(self) -> float:
        ordered = sorted(self.seconds)
        return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
