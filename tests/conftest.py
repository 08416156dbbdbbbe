"""Shared fixtures: real SQLite files, real PostgreSQL and Redis on localhost, real workers.

PostgreSQL and Redis are the servers on localhost (``./dev test`` starts them when they do
not answer); each test gets its own PostgreSQL database and Redis database number.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
import redis
from fastapi.testclient import TestClient

from tests.support.processes import Worker
from tests.support.settings import (
    API_KEYS,
    POSTGRES_SERVER,
    RECORDED_FLAGSHIP,
    REDIS_SERVER,
    migrate,
    reset_all_caches,
)

# Each test that runs llama.cpp in-process runs in a forked child (see the plugin).
pytest_plugins = ["tests.support.crash_isolation"]

# Helpers that are not fixtures (constants, auth, wait_for, Worker...) live in tests/support/:
# test modules import them from there, never from a conftest.


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
