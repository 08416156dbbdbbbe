"""What every test shares: the repository's paths, the test keys and servers, and the small
helpers around them (skip-or-fail, auth headers, migrations, cache resets)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIXTURES_DIR = ROOT / "tests" / "fixtures"
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


# There is no default flagship: the tests replay GPT-4's recorded GSM8K answers, explicitly.
RECORDED_FLAGSHIP = {"flagship_client": "recorded", "recorded_answers_path": GSM8K_CSV}


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


def migrate(url: str) -> None:
    from shadowgap.db.migrate import upgrade

    upgrade(url)


def auth(scope: str = "ingest") -> dict[str, str]:
    """The bearer header of the test key with ``scope`` (ingest, read or admin)."""
    return {"Authorization": f"Bearer {KEYS[scope]}"}
