"""Verification of a recorded router change on stored traffic: verified, regressed, pending."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from shadowgap.alerts.channels.pagerduty import build_pagerduty
from shadowgap.alerts.channels.slack import build_slack
from shadowgap.alerts.schemas import AlertEvidence
from shadowgap.changes.verify import METRIC_SHARES, verify_change, verify_open_changes
from shadowgap.config import Settings
from shadowgap.db.models import Alert, Delivery, RouterChange
from shadowgap.enums import AlertStatus, ChangeStatus, EvidenceType
from shadowgap.stats.group_sequential import pocock_spending
from tests.changes.conftest import T0, Traffic
from tests.support.alert_formats import pagerduty_problems, slack_problems
from tests.support.alert_rows import ROUTING_KEY

AT = T0 + timedelta(days=14)
NOW = datetime(2025, 3, 1, tzinfo=UTC)


def _change(session: Session, predicted: dict[str, Any] | None = None) -> RouterChange:
    change = RouterChange(
        scope="tenant=hooli",
        at=AT,
        description="route hooli's hard prompts to the flagship",
        proposal_id="p-1",
        predicted=predicted,
        recorded_by="test",
        status=ChangeStatus.PENDING,
        verification={},
    )
    session.add(change)
    session.flush()
    return change


def _scenario(
    session: Session, after_days: float = 14, seed: int = 1, **after: Any
) -> RouterChange:
    traffic = Traffic(session, "hooli", seed)
    traffic.add(T0, 14, 300)
    traffic.add(AT, after_days, 300, **after)
    return _change(session)


def test_a_neutral_change_is_verified(
    session_factory: sessionmaker[Session], settings: Settings
) -> None:
    with session_factory() as session:
        change = _scenario(session)
        deliveries = verify_change(session, change, settings, NOW)
        assert change.status == ChangeStatus.VERIFIED, change.verification
        assert deliveries == []
        looks = change.verification["looks"]
        assert all(look["worse"] == [] for look in looks)
        assert any(look["decisive"] for look in looks)
        # Each metric spends its share of the 5% by the fraction of the horizon gone (Pocock's
        # spending): 0.4 of it on quality, 0.2 on each of cost and p95, a fifth held back.
        assert sum(METRIC_SHARES.values()) == pytest.approx(0.8)
        last = looks[-1]
        spent = pocock_spending(0.05 * 0.4, last["fraction"])
        assert last["metrics"]["excess_gap"]["spent"] == pytest.approx(spent)
        assert 0 < last["fraction"] < 1
        realised = change.verification["realised"]
        assert realised["excess_gap"]["ci"][0] < 0 < realised["excess_gap"]["ci"][1]


def test_a_change_that_raises_the_gap_is_flagged_for_rollback(
    session_factory: sessionmaker[Session], settings: Settings
) -> None:
    with session_factory() as session:
        change = _scenario(session, win_rate=0.4)
        deliveries = verify_change(session, change, settings, NOW)
        session.commit()
        assert change.status == ChangeStatus.REGRESSED
        assert deliveries, "the alert was not sent anywhere"
        alert = session.get(Alert, change.alert_id)
        assert alert is not None and alert.status == AlertStatus.OPEN
        assert alert.signal == f"change:{change.id}"
        evidence = AlertEvidence.read(alert.evidence)
        assert evidence.type == EvidenceType.CHANGE_REGRESSED
        extra = evidence.model_extra or {}
        assert "roll back router change" in extra["recommendation"]
        assert extra["router_change"]["worse"] == ["excess_gap"]
        assert evidence.after and evidence.before
        assert evidence.after.value > evidence.before.value  # type: ignore[operator]
        payloads = session.scalars(select(Delivery.payload)).all()
        assert any("roll back router change" in str(payload) for payload in payloads)
        # Verifying again opens no second alert.
        assert verify_change(session, change, settings, NOW) == []
        assert len(session.scalars(select(Alert)).all()) == 1


def test_cost_rise_beyond_the_prediction_is_a_regression_and_within_it_is_not(
    session_factory: sessionmaker[Session], settings: Settings
) -> None:
    """Routing part of the segment to the flagship raises cost on purpose: flagged only when
    it rose beyond what the proposal predicted (here, without a prediction, it is flagged)."""
    after = {"cheap_share": 0.5}
    with session_factory() as session:
        unpredicted = _scenario(session, **after)
        verify_change(session, unpredicted, settings, NOW)
        assert unpredicted.status == ChangeStatus.REGRESSED
        assert unpredicted.verification["looks"][-1]["worse"] == ["cost_per_day"]
        realised = unpredicted.verification["realised"]["cost_per_day"]
        # 300 requests a day, 30% more of them at 0.01 instead of 0.001 USD: about 0.81 a day.
        assert 0.6 < realised["delta"] < 1.0

        # The same change on the same traffic, announced with the proposal's prediction.
        predicted = _change(session, {"cost_per_day": {"value": 0.8, "ci": [0.6, 1.0]}})
        verify_change(session, predicted, settings, NOW)
        assert predicted.status == ChangeStatus.VERIFIED, predicted.verification["looks"]
        assert predicted.verification["realised"]["cost_per_day"]["predicted"]["value"] == 0.8


def test_a_p95_regression_is_flagged(
    session_factory: sessionmaker[Session], settings: Settings
) -> None:
    with session_factory() as session:
        change = _scenario(session, latency_ms=600.0)
        verify_change(session, change, settings, NOW)
        assert change.status == ChangeStatus.REGRESSED
        assert "p95_ms" in change.verification["looks"][-1]["worse"]
        alert = session.get(Alert, change.alert_id)
        assert alert is not None and alert.severity == "warning"


def test_a_young_change_is_pending_with_the_pairs_it_needs(
    session_factory: sessionmaker[Session], settings: Settings
) -> None:
    with session_factory() as session:
        change = _scenario(session, after_days=0.5)
        verify_change(session, change, settings, AT + timedelta(days=0.5))
        assert change.status == ChangeStatus.PENDING
        pending = change.verification["pending"]
        assert 0 < pending["pairs"] < pending["pairs_needed"]
        assert pending["expected_days"] > 0
        # Looks are taken from the start (a bad change can be flagged early), but none yet
        # had the power to call the change verified.
        looks = change.verification["looks"]
        assert not any(look["decisive"] or look["worse"] for look in looks)


@pytest.mark.parametrize("cheap_after", [0.0, 0.05])
def test_a_route_to_flagship_change_is_decided_by_its_routing(
    session_factory: sessionmaker[Session], settings: Settings, cheap_after: float
) -> None:
    """All of the scope on the flagship: no forward pairs will come, and none are needed (its
    per-request excess is 0 on every request). A few requests still cheap: they could lose, so
    the change waits for pairs like any other."""
    with session_factory() as session:
        traffic = Traffic(session, "hooli", 3)
        traffic.add(T0, 14, 300, win_rate=0.45)
        traffic.add(AT, 1, 300, cheap_share=cheap_after)
        # All-flagship costs more: the rise the proposal predicted (per day, after - before).
        change = _change(session, predicted={"cost_per_day": {"value": 2.2, "ci": [1.5, 3.0]}})
        verify_change(session, change, settings, AT + timedelta(days=1))
        looks = change.verification["looks"]
        assert not any(look["worse"] for look in looks), looks
        if cheap_after == 0.0:
            assert change.status == ChangeStatus.VERIFIED, change.verification
            decided = [look for look in looks if look["decisive"]]
            assert decided and decided[0]["all_flagship_after"]
            assert decided[0]["pairs_after"] == 0
            assert decided[0]["metrics"]["excess_gap"]["delta"] < 0
        else:
            assert change.status == ChangeStatus.PENDING, change.verification
            assert not any(look["all_flagship_after"] for look in looks)


def test_open_changes_are_verified_and_finished_ones_left_alone(
    session_factory: sessionmaker[Session], settings: Settings
) -> None:
    settings = settings.model_copy(update={"change_verify_days": 28.0})
    with session_factory() as session:
        change = _scenario(session, after_days=30)
        verify_open_changes(session, settings, NOW)
        assert change.status == ChangeStatus.VERIFIED
        assert change.verification["window"]["finished"] is True
        stamp = change.verified_at
        verify_open_changes(session, settings, NOW + timedelta(days=1))
        assert change.verified_at == stamp


def test_the_rollback_alert_payloads_keep_slack_and_pagerduty_formats(
    session_factory: sessionmaker[Session], settings: Settings
) -> None:
    with session_factory() as session:
        change = _scenario(session, win_rate=0.4)
        verify_change(session, change, settings, NOW)
        alert = session.get(Alert, change.alert_id)
        assert alert is not None
        evidence = AlertEvidence.read(alert.evidence)
        message = build_slack(alert, evidence, "trigger")
        assert slack_problems(message) == []
        assert "roll back router change" in str(message["blocks"][0])
        event = build_pagerduty(alert, evidence, "trigger")
        assert pagerduty_problems({**event, "routing_key": ROUTING_KEY}) == []
        assert "roll back router change" in event["payload"]["summary"]


def test_a_bad_change_is_flagged_early_before_the_verdict_could_be_verified(
    session_factory: sessionmaker[Session], settings: Settings
) -> None:
    """Looks from the start: a large rise is flagged within days, long before the looks have
    the power to call a change verified (the old single decisive look waited for that)."""
    with session_factory() as session:
        change = _scenario(session, after_days=3, win_rate=0.6)
        verify_change(session, change, settings, AT + timedelta(days=3))
        assert change.status == ChangeStatus.REGRESSED, change.verification["looks"]
        flagging = change.verification["looks"][-1]
        assert flagging["worse"] == ["excess_gap"]
        assert not any(look["decisive"] for look in change.verification["looks"])
        assert flagging["fraction"] < 3 / 56
        quality = flagging["metrics"]["excess_gap"]
        assert quality["z"] > quality["boundary"] > 0


@pytest.mark.parametrize(("earlier_scope", "cut"), [("tenant=hooli", True), ("tenant=acme", False)])
def test_the_before_window_starts_at_the_latest_earlier_change_to_the_scope(
    session_factory: sessionmaker[Session], settings: Settings, earlier_scope: str, cut: bool
) -> None:
    """The segment's level moved at an earlier change a week before this one: the before
    window starts there, so this neutral change is compared with its own routing's level.
    A change to another tenant does not cut, and then the old level makes it look worse."""
    earlier_at = T0 + timedelta(days=7)
    with session_factory() as session:
        traffic = Traffic(session, "hooli", 3)
        Traffic(session, "acme", 4)  # its segment, so the other scope names a segment
        traffic.add(T0, 7, 300, win_rate=0.05)
        traffic.add(earlier_at, 7, 300, win_rate=0.35)
        traffic.add(AT, 14, 300, win_rate=0.35)
        session.add(
            RouterChange(
                scope=earlier_scope,
                at=earlier_at,
                description="an earlier change",
                recorded_by="test",
                status=ChangeStatus.VERIFIED,
                verification={},
            )
        )
        change = _change(session)
        verify_change(session, change, settings, NOW)
        start = datetime.fromisoformat(change.verification["window"]["before_start"])
        if cut:
            assert start.replace(tzinfo=UTC) == earlier_at
            # A week of before traffic may not have the power to verify it yet; nothing worse.
            assert change.status != ChangeStatus.REGRESSED, change.verification["looks"]
        else:
            expected = AT - timedelta(days=settings.change_before_days)
            assert start.replace(tzinfo=UTC) == expected
            assert change.status == ChangeStatus.REGRESSED
