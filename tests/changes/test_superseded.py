"""A regressed change's alert resolves when a later recorded change covers its whole scope
(shadowgap/changes/record.py says why that rule), on PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from shadowgap.changes.record import record_change
from shadowgap.changes.verify import verify_change
from shadowgap.config import Settings
from shadowgap.db.models import Alert, Delivery, RouterChange
from shadowgap.enums import AlertStatus, ChangeStatus, DeliveryAction
from tests.changes.conftest import T0, Traffic
from tests.support.settings import migrate

pytestmark = pytest.mark.postgres

AT = T0 + timedelta(days=14)
NOW = AT + timedelta(days=30)


@pytest.fixture
def db_url(postgres_url: str) -> str:
    """The change tests' session fixtures, on a migrated PostgreSQL database."""
    migrate(postgres_url)
    return postgres_url


def _regressed(session: Session, settings: Settings) -> RouterChange:
    """tenant=hooli (two teams) where a change raised the flagship-wins rate: flagged."""
    for team, seed in (("search", 1), ("chat", 2)):
        traffic = Traffic(session, "hooli", seed)
        traffic.segment.key = f"tenant=hooli|team={team}"
        traffic.segment.dimensions = {"tenant": "hooli", "team": team}
        traffic.add(T0, 14, 300)
        traffic.add(AT, 14, 300, win_rate=0.4)
    Traffic(session, "acme", 3).add(T0, 1, 100)
    change, _ = record_change(
        session,
        settings,
        scope="tenant=hooli",
        at=AT,
        description="cheaper model for hooli",
        proposal_id=None,
        predicted=None,
        actor="test",
        now=NOW,
    )
    assert verify_change(session, change, settings, NOW), "the alert was not sent anywhere"
    assert change.status == ChangeStatus.REGRESSED and change.alert_id is not None
    return change


def _record(session: Session, settings: Settings, scope: str, at_days: float) -> RouterChange:
    change, _ = record_change(
        session,
        settings,
        scope=scope,
        at=AT + timedelta(days=at_days),
        description="a later change",
        proposal_id=None,
        predicted=None,
        actor="test",
        now=NOW,
    )
    return change


@pytest.fixture
def settings(db_url: str, tmp_path) -> Settings:  # type: ignore[no-untyped-def]
    return Settings(
        database_url=db_url,
        alert_outbox_dir=str(tmp_path / "outbox"),
        segment_dimensions=["tenant", "team"],
    )


def test_a_rollback_of_the_whole_scope_resolves_the_alert(
    session_factory: sessionmaker[Session], settings: Settings
) -> None:
    with session_factory() as session:
        regressed = _regressed(session, settings)
        rollback, deliveries = record_change(
            session,
            settings,
            scope="tenant=hooli",
            at=AT + timedelta(days=15),
            description="roll back",
            proposal_id=None,
            predicted=None,
            actor="test",
            now=NOW,
        )
        session.commit()
        alert = session.get(Alert, regressed.alert_id)
        assert alert is not None and alert.status == AlertStatus.RESOLVED
        assert alert.resolved_by == f"change:{rollback.id}"
        assert regressed.verification["superseded_by"] == rollback.id
        assert regressed.status == ChangeStatus.REGRESSED  # its verdict stands
        resolves = [session.get(Delivery, d) for d in deliveries]
        assert resolves and all(
            d is not None and d.action == DeliveryAction.RESOLVE and d.alert_id == alert.id
            for d in resolves
        )


@pytest.mark.parametrize(
    ("scope", "at_days", "why"),
    [
        ("tenant=hooli|team=search", 15, "covers only part of the scope"),
        ("tenant=acme", 15, "another scope"),
        ("tenant=hooli", -1, "went live before the regressed change"),
    ],
)
def test_a_change_that_does_not_supersede_leaves_the_alert_open(
    session_factory: sessionmaker[Session], settings: Settings, scope: str, at_days: float, why: str
) -> None:
    with session_factory() as session:
        regressed = _regressed(session, settings)
        _record(session, settings, scope, at_days)
        session.commit()
        alert = session.get(Alert, regressed.alert_id)
        assert alert is not None and alert.status == AlertStatus.OPEN, why
        assert "superseded_by" not in regressed.verification, why
