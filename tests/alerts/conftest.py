"""Fixtures for the alert tests: a SQLite file database, settings, receivers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from shadowgap.config import Settings
from shadowgap.db.engine import make_engine
from shadowgap.db.models import Base
from tests.support.alert_receiver import Receiver
from tests.support.alert_rows import ROUTING_KEY, SLACK_PATH, WEBHOOK_SECRET, make_settings


@pytest.fixture
def session(tmp_path: Path) -> Iterator[Session]:
    engine = make_engine(f"sqlite:///{tmp_path}/alerts.db")
    Base.metadata.create_all(engine)
    factory = sessionmaker(bind=engine, expire_on_commit=False)
    with factory() as db:
        yield db
    engine.dispose()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def wired(tmp_path: Path, receiver: Receiver) -> Settings:
    """Every channel configured, all pointing at one local receiver (told apart by path)."""
    return make_settings(
        tmp_path,
        slack_webhook_url=receiver.url(SLACK_PATH),
        pagerduty_routing_key=ROUTING_KEY,
        pagerduty_events_url=receiver.url("/pagerduty/v2/enqueue"),
        webhook_url=receiver.url("/hooks/shadowgap?token=hooktokensecret"),
        webhook_secret=WEBHOOK_SECRET,
    )
