"""Shared fixtures: real SQLite files, real PostgreSQL and Redis on localhost, real workers.

PostgreSQL and Redis are the servers on localhost (``./dev test`` starts them when they do
not answer); each test gets its own PostgreSQL database and Redis database number.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
import redis
from fastapi.testclient import TestClient

# Each test that runs llama.cpp in-process runs in a forked child (see the plugin).
pytest_plugins = ["tests.support.crash_isolation"]

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = ROOT.parent / "shared" / "data" / "routellm"
GSM8K_CSV = DATA_DIR / "gsm8k" / "gsm8k_responses.csv"
# A bare key may only ingest; reads and the dashboard take a read or admin key.
API_KEY = "test-key-0123456789"
READ_KEY = "test-read-key-0123456789"
ADMIN_KEY = "test-admin-key-0123456789"
API_KEYS = f"{API_KEY},read:{READ_KEY},admin:{ADMIN_KEY}"
KEYS = {"ingest": API_KEY, "read": READ_KEY, "admin": ADMIN_KEY}
POSTGRES_SERVER = os.environ.get(
    "SHADOWGAP_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
REDIS_SERVER = os.environ.get("SHADOWGAP_TEST_REDIS_URL", "redis://127.0.0.1:6379")


def require(condition: bool, reason: str) -> None:
    """Skip a test whose heavy dependency (Chromium, llama.cpp) is missing on a developer's
    machine, but fail it in CI (CI=true): a skip there would let the run go green without it."""
    if condition:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: a missing dependency fails the run)", pytrace=False)
    pytest.skip(reason)


def reset_all_caches() -> None:
    from shadowgap.db.engine import reset_caches
    from shadowgap.ingest import store
    from shadowgap.worker import queue

    reset_caches()
    queue.reset_producer()
    store.clear_caches()
    try:
        from shadowgap.llm.factory import reset_flagship_clients
    except ImportError:
        return
    reset_flagship_clients()


@pytest.fixture
def configure(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """Set SHADOWGAP_* variables (keyword names without the prefix) and forget cached state."""

    def apply(**values: object) -> None:
        for name, value in values.items():
            monkeypatch.setenv(f"SHADOWGAP_{name.upper()}", str(value))
        reset_all_caches()

    yield apply
    reset_all_caches()


@pytest.fixture
def sqlite_urls(tmp_path: Path) -> tuple[str, str]:
    return f"sqlite:///{tmp_path}/shadowgap.db", f"sqla+sqlite:///{tmp_path}/broker.db"


def _admin_dsn() -> str:
    return POSTGRES_SERVER.replace("postgresql+psycopg://", "postgresql://")


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database, dropped afterwards."""
    name = f"shadowgap_t_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(_admin_dsn(), autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.fail(f"PostgreSQL is not reachable at {POSTGRES_SERVER}: {exc}")
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base = POSTGRES_SERVER.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    from shadowgap.db.engine import reset_caches

    reset_caches()
    with psycopg.connect(_admin_dsn(), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


_redis_db_counter = iter(range(1, 16))


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A Redis database number of its own, emptied before and after."""
    url = f"{REDIS_SERVER}/{next(_redis_db_counter, 15)}"
    client = redis.Redis.from_url(url)
    try:
        client.ping()
    except redis.ConnectionError as exc:
        pytest.fail(f"Redis is not reachable at {REDIS_SERVER}: {exc}")
    client.flushdb()
    yield url
    client.flushdb()


def migrate(url: str) -> None:
    from shadowgap.db.migrate import upgrade

    upgrade(url)


# There is no default flagship: the tests replay GPT-4's recorded GSM8K answers, explicitly.
RECORDED_FLAGSHIP = {"flagship_client": "recorded", "recorded_answers_path": GSM8K_CSV}


@pytest.fixture
def embedded(configure: Callable[..., None], sqlite_urls: tuple[str, str]) -> str:
    """The embedded default (SQLite database and SQLite broker), migrated, with an API key
    and the recorded flagship."""
    database, broker = sqlite_urls
    configure(database_url=database, broker_url=broker, api_keys=API_KEYS, **RECORDED_FLAGSHIP)
    migrate(database)
    return database


@pytest.fixture
def production(configure: Callable[..., None], postgres_url: str, redis_url: str) -> str:
    """PostgreSQL and Redis, migrated, with API keys and the recorded flagship."""
    configure(
        database_url=postgres_url, broker_url=redis_url, api_keys=API_KEYS, **RECORDED_FLAGSHIP
    )
    migrate(postgres_url)
    return postgres_url


@pytest.fixture(params=["sqlite", "postgres"])
def any_db(request: pytest.FixtureRequest) -> str:
    """Runs a test on the embedded default and on PostgreSQL + Redis."""
    return request.getfixturevalue("embedded" if request.param == "sqlite" else "production")


@pytest.fixture
def client() -> Iterator[TestClient]:
    from shadowgap.api.app import create_app

    with TestClient(create_app()) as test_client:
        yield test_client


def auth(scope: str = "ingest") -> dict[str, str]:
    """The bearer header of the test key with ``scope`` (ingest, read or admin)."""
    return {"Authorization": f"Bearer {KEYS[scope]}"}


class Worker:
    """A real Celery worker process with the test's settings."""

    def __init__(self, log_path: Path, queues: str) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.log_path = log_path
        self._log = open(log_path, "w")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "shadowgap.worker.app:app",
                "worker",
                "--concurrency=1",
                "--pool=prefork",
                f"--queues={queues}",
                "--loglevel=INFO",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
            ],
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if "ready." in log_path.read_text():
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"worker did not start:\n{log_path.read_text()[-3000:]}")

    def log(self) -> str:
        return self.log_path.read_text()

    def kill(self) -> None:
        """SIGKILL the whole worker (main process and pool children), as a crash would."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)
        self._log.close()

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=30)
        if not self._log.closed:
            self._log.close()


@pytest.fixture
def start_worker(tmp_path: Path) -> Iterator[Callable[..., Worker]]:
    workers: list[Worker] = []

    def start(queues: str = "shadow,judge,drift,alerts,reports,maintenance") -> Worker:
        worker = Worker(tmp_path / f"worker-{len(workers)}.log", queues)
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.stop()


def wait_for(
    predicate: Callable[[], object], timeout: float = 60.0, interval: float = 0.3
) -> object:
    """Poll until predicate() is truthy; fail with a clear message on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")
