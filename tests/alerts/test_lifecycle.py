"""Alert lifecycle against a SQLite file database: open, attach, re-notify, resolve, no-data."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from shadowgap.alerts import lifecycle
from shadowgap.alerts.lifecycle import (
    acknowledge,
    check_no_data,
    list_alerts,
    observe,
    open_or_update,
    resolve,
)
from shadowgap.db.models import Alert, Delivery, DetectorState
from shadowgap.errors import Conflict, InvalidInput, NotFound
from tests.support.alert_formats import pagerduty_problems, slack_problems
from tests.support.alert_rows import NOW, add_drift, add_segment, make_settings


def deliveries(session: Session, ids: list[int]) -> list[Delivery]:
    return [session.get(Delivery, i) for i in ids]  # type: ignore[misc]


def alert_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Alert)) or 0


@pytest.fixture
def acme(session: Session):  # type: ignore[no-untyped-def]
    segment = add_segment(session, "tenant=acme", 9000)
    add_segment(session, "tenant=globex", 1000)
    return segment


def test_one_drift_event_opens_one_alert_with_one_delivery_per_channel(
    session: Session, acme, wired
) -> None:
    drift = add_drift(session, acme)

    ids = open_or_update(session, drift.id, wired, NOW)

    alert = session.scalars(select(Alert)).one()
    assert (alert.status, alert.signal, alert.drift_event_id) == ("open", "quality_gap", drift.id)
    # |0.45 - 0.05| = 0.40 is a large effect on a segment with 90% of the volume.
    assert alert.severity == "critical"
    assert alert.last_notified_at == NOW
    rows = deliveries(session, ids)
    assert sorted(d.channel for d in rows) == ["pagerduty", "slack", "webhook"]
    assert {d.action for d in rows} == {"trigger"} and {d.status for d in rows} == {"pending"}
    by_channel = {d.channel: d.payload for d in rows}
    assert slack_problems(by_channel["slack"]) == []
    wire = {**by_channel["pagerduty"], "routing_key": "x" * 32}
    assert pagerduty_problems(wire) == []
    assert "routing_key" not in by_channel["pagerduty"]  # the secret is added at send time
    assert by_channel["webhook"]["alert"]["id"] == alert.id


def test_second_drift_event_attaches_without_renotify_until_interval(
    session: Session, acme, wired
) -> None:
    first = add_drift(session, acme)
    open_or_update(session, first.id, wired, NOW)
    second = add_drift(session, acme, after=0.5, when=NOW + timedelta(hours=1))

    assert open_or_update(session, second.id, wired, NOW + timedelta(hours=1)) == []

    alert = session.scalars(select(Alert)).one()
    assert alert_count(session) == 1
    assert [h["drift_event_id"] for h in alert.evidence["drift_events"]] == [first.id, second.id]
    assert alert.evidence["after"]["value"] == 0.5
    assert alert.evidence["baseline"]["value"] == 0.05
    assert alert.last_notified_at == NOW

    third = add_drift(session, acme, after=0.5, when=NOW + timedelta(hours=4))
    ids = open_or_update(session, third.id, wired, NOW + timedelta(hours=4))
    assert {d.action for d in deliveries(session, ids)} == {"renotify"}
    assert len(ids) == 3
    assert alert.last_notified_at == NOW + timedelta(hours=4)


def test_redelivered_drift_event_is_ignored(session: Session, acme, wired) -> None:
    drift = add_drift(session, acme)
    assert open_or_update(session, drift.id, wired, NOW)
    later = NOW + timedelta(hours=10)
    assert open_or_update(session, drift.id, wired, later) == []
    resolve(session, session.scalars(select(Alert)).one().id, later)
    # Even after the alert resolved, the same drift event does not open a new one.
    assert open_or_update(session, drift.id, wired, later) == []
    assert alert_count(session) == 1


def test_acknowledged_alert_is_not_renotified(session: Session, acme, wired) -> None:
    open_or_update(session, add_drift(session, acme).id, wired, NOW)
    alert = session.scalars(select(Alert)).one()
    acknowledge(session, alert.id, NOW + timedelta(minutes=5))
    later = NOW + timedelta(hours=9)
    assert open_or_update(session, add_drift(session, acme, when=later).id, wired, later) == []
    assert alert.status == "acknowledged"
    assert alert.acknowledged_at == NOW + timedelta(minutes=5)


def test_observe_resolves_back_at_baseline_with_resolve_deliveries(
    session: Session, acme, wired
) -> None:
    trigger_ids = open_or_update(session, add_drift(session, acme).id, wired, NOW)
    alert = session.scalars(select(Alert)).one()
    later = NOW + timedelta(hours=2)

    # Too few samples, and a window still near the after-mean: nothing happens.
    assert observe(session, acme.id, "quality_gap", 0.05, 10, wired, later) == []
    assert observe(session, acme.id, "quality_gap", 0.40, 50, wired, later) == []
    assert alert.status == "open" and alert.baseline_streak == 0

    ids = observe(session, acme.id, "quality_gap", 0.12, 50, wired, later)

    assert (alert.status, alert.resolved_by, alert.resolved_at) == ("resolved", "auto", later)
    assert alert.evidence["resolution"]["recent"] == {"value": 0.12, "n": 50}
    resolves = deliveries(session, ids)
    assert {d.action for d in resolves} == {"resolve"}
    assert sorted(d.channel for d in resolves) == ["pagerduty", "slack", "webhook"]
    triggers = {d.channel: d.payload for d in deliveries(session, trigger_ids)}
    pd_resolve = next(d.payload for d in resolves if d.channel == "pagerduty")
    assert pd_resolve["event_action"] == "resolve"
    assert pd_resolve["dedup_key"] == triggers["pagerduty"]["dedup_key"]
    slack_resolve = next(d.payload for d in resolves if d.channel == "slack")
    assert slack_problems(slack_resolve) == []
    assert "Resolved" in slack_resolve["blocks"][0]["text"]["text"]
    # The key is free again: a new drift opens a new alert.
    new = add_drift(session, acme, when=later)
    assert open_or_update(session, new.id, wired, later + timedelta(minutes=1))
    assert alert_count(session) == 2


def test_observe_inside_baseline_interval_resolves(session: Session, acme, wired) -> None:
    # A rate: the Wilson interval of 5% over 800 samples is about [3.7%, 6.8%].
    drift = add_drift(session, acme, signal="error_rate", before=0.05, after=0.09, details={})
    open_or_update(session, drift.id, wired, NOW)
    alert = session.scalars(select(Alert)).one()
    low, high = alert.evidence["baseline"]["ci"]
    assert low < 0.05 < high
    assert observe(session, acme.id, "error_rate", high - 1e-6, 60, wired, NOW) != []
    assert alert.status == "resolved"


def test_observe_waits_for_a_window_after_the_change(session: Session, acme, wired) -> None:
    open_or_update(session, add_drift(session, acme, sample_index=1000).id, wired, NOW)
    state = DetectorState(
        segment_id=acme.id, signal="quality_gap", detector="page_hinkley", state={}, n_updates=1020
    )
    session.add(state)
    session.flush()
    # Only 20 samples since detection: the 50-sample window still holds pre-change values.
    assert observe(session, acme.id, "quality_gap", 0.05, 50, wired, NOW) == []
    state.n_updates = 1050
    assert observe(session, acme.id, "quality_gap", 0.05, 50, wired, NOW) != []


def test_observe_judges_a_mean_by_when_it_was_taken(session: Session, acme, wired) -> None:
    # The observe job runs after later batches: the stored count has moved on, but the mean it
    # carries was taken 20 samples after the detection, so it still straddles the change.
    open_or_update(session, add_drift(session, acme, sample_index=1000).id, wired, NOW)
    session.add(
        DetectorState(
            segment_id=acme.id,
            signal="quality_gap",
            detector="page_hinkley",
            state={},
            n_updates=1400,
        )
    )
    session.flush()
    assert observe(session, acme.id, "quality_gap", 0.05, 50, wired, NOW, at_n_updates=1020) == []
    assert observe(session, acme.id, "quality_gap", 0.05, 50, wired, NOW, at_n_updates=1050) != []


def test_alert_without_baseline_only_resolves_by_hand(session: Session, acme, wired) -> None:
    drift = add_drift(session, acme, before=None, after=0.3)
    open_or_update(session, drift.id, wired, NOW)
    alert = session.scalars(select(Alert)).one()
    assert alert.severity == "warning"  # unknown effect counts as small, +1 for the big segment
    assert observe(session, acme.id, "quality_gap", 0.0, 500, wired, NOW) == []
    ids = resolve(session, alert.id, NOW, by="alice")
    assert (alert.status, alert.resolved_by) == ("resolved", "alice")
    # Resolves go where the trigger went: a warning is not routed to PagerDuty by default.
    assert sorted(d.channel for d in deliveries(session, ids)) == ["slack", "webhook"]
    assert resolve(session, alert.id, NOW) == []  # idempotent


def test_acknowledge_and_resolve_errors(session: Session, acme, wired) -> None:
    with pytest.raises(NotFound):
        acknowledge(session, 999, NOW)
    with pytest.raises(NotFound):
        open_or_update(session, 999, wired, NOW)
    open_or_update(session, add_drift(session, acme).id, wired, NOW)
    alert = session.scalars(select(Alert)).one()
    acknowledge(session, alert.id, NOW)
    acknowledge(session, alert.id, NOW + timedelta(hours=1))  # no-op
    assert alert.acknowledged_at == NOW
    resolve(session, alert.id, NOW)
    with pytest.raises(Conflict):
        acknowledge(session, alert.id, NOW)


def test_list_alerts_filters_and_pages(session: Session, acme, wired) -> None:
    globex = session.scalars(select(type(acme)).where(type(acme).key == "tenant=globex")).one()
    open_or_update(session, add_drift(session, acme).id, wired, NOW)
    open_or_update(session, add_drift(session, globex).id, wired, NOW + timedelta(minutes=1))
    first = list_alerts(session)
    assert [a.segment_id for a in first] == [globex.id, acme.id]
    resolve(session, first[0].id, NOW)
    assert [a.segment_id for a in list_alerts(session, status="active")] == [acme.id]
    assert [a.segment_id for a in list_alerts(session, status="resolved")] == [globex.id]
    assert len(list_alerts(session, limit=1, offset=1)) == 1
    with pytest.raises(InvalidInput):
        list_alerts(session, status="bogus")


def test_concurrent_open_joins_the_winner(
    session: Session, acme, wired, monkeypatch: pytest.MonkeyPatch
) -> None:
    drift = add_drift(session, acme)
    session.commit()
    # Another worker opens the alert after our read but before our insert.
    other = sessionmaker(bind=session.get_bind())()
    other.add(
        Alert(
            segment_id=acme.id,
            signal="quality_gap",
            status="open",
            severity="warning",
            evidence={"drift_events": [], "baseline": {"value": 0.05, "ci": None}},
            opened_at=NOW,
            last_notified_at=NOW,
        )
    )
    other.commit()
    other.close()
    monkeypatch.setattr(lifecycle, "_latest_alert", lambda *args: None)

    ids = open_or_update(session, drift.id, wired, NOW + timedelta(minutes=1))

    assert ids == []  # joined the existing alert, notified a minute ago
    alert = session.scalars(select(Alert)).one()
    assert alert.severity == "critical"  # raised by the attached evidence
    assert [h["drift_event_id"] for h in alert.evidence["drift_events"]] == [drift.id]
    session.commit()


def test_severity_mapping_documented_cases(session: Session, wired) -> None:
    big = add_segment(session, "tenant=big", 9000)
    mid = add_segment(session, "tenant=mid", 950)
    small = add_segment(session, "tenant=small", 50)
    cases = [
        (big, "quality_gap", 0.05, 0.30, "critical"),  # large x big
        (mid, "quality_gap", 0.05, 0.30, "error"),  # large x mid
        (big, "quality_gap", 0.05, 0.17, "error"),  # medium x big
        (mid, "latency", 1000.0, 1600.0, "warning"),  # +60% = medium x mid
        (small, "latency", 1000.0, 2500.0, "warning"),  # large x small
        (mid, "latency", 1000.0, 1250.0, "info"),  # small x mid
        (big, "latency", 1000.0, 400.0, "info"),  # faster is good news
        (big, "routing_share", 0.9, 0.5, "critical"),  # routing shifts count both ways
        (mid, "traffic_share", 0.02, 0.04, "error"),  # share doubled: large x mid
        (big, "quality_gap", 0.30, 0.10, "info"),  # the cheap path got better
    ]
    # Too few samples after the change never page, however large it looks: one absurd cost.
    few = [
        (big, "cost_per_request", 0.001, 1.7e308, 1, "warning"),
        (big, "quality_gap", 0.05, 0.80, 5, "warning"),
        (big, "quality_gap", 0.05, 0.80, 20, "critical"),
    ]
    for segment, signal, before, after, after_n, expected in [
        (*case[:4], 200, case[4]) for case in cases
    ] + few:
        drift = add_drift(
            session, segment, signal=signal, before=before, after=after, after_n=after_n
        )
        open_or_update(session, drift.id, wired, NOW)
        alert = session.scalars(
            select(Alert).where(Alert.segment_id == segment.id, Alert.status == "open")
        ).one()
        assert alert.severity == expected, (segment.key, signal, before, after)
        resolve(session, alert.id, NOW)  # frees the key for the next case


def test_routing_by_severity_and_pattern(session: Session, acme, tmp_path: Path, wired) -> None:
    settings = wired.model_copy(
        update={"alert_routes": "slack:*; pagerduty:critical:tenant=glob*; webhook:info"}
    )
    ids = open_or_update(session, add_drift(session, acme).id, settings, NOW)
    assert [d.channel for d in deliveries(session, ids)] == ["slack"]
    nothing = make_settings(tmp_path)
    globex = add_segment(session, "tenant=initech", 10)
    ids = open_or_update(session, add_drift(session, globex).id, nothing, NOW)
    assert [d.channel for d in deliveries(session, ids)] == ["outbox"]


# --- no data ---------------------------------------------------------------------------------


def test_no_data_opens_once_and_resolves_when_traffic_returns(session: Session, wired) -> None:
    quiet = add_segment(session, "tenant=quiet", 500, last_seen_at=NOW - timedelta(hours=2))
    add_segment(session, "tenant=busy", 500, last_seen_at=NOW + timedelta(days=1))  # keeps sending
    add_segment(session, "tenant=new", 0, last_seen_at=None)

    ids = check_no_data(session, wired, NOW)

    alert = session.scalars(select(Alert)).one()
    assert (alert.segment_id, alert.signal, alert.severity) == (quiet.id, "no_data", "error")
    assert alert.evidence["silent_minutes"] == pytest.approx(120)
    payloads = {d.channel: d.payload for d in deliveries(session, ids)}
    assert set(payloads) == {"slack", "pagerduty", "webhook"}
    assert slack_problems(payloads["slack"]) == []
    assert pagerduty_problems({**payloads["pagerduty"], "routing_key": "k" * 32}) == []
    assert check_no_data(session, wired, NOW + timedelta(minutes=30)) == []

    # Still silent after renotify_hours: one re-notification.
    renotified = check_no_data(session, wired, NOW + timedelta(hours=4))
    assert {d.action for d in deliveries(session, renotified)} == {"renotify"}

    quiet.last_seen_at = NOW + timedelta(hours=5)
    resolved = check_no_data(session, wired, NOW + timedelta(hours=5, minutes=1))
    assert {d.action for d in deliveries(session, resolved)} == {"resolve"}
    assert (alert.status, alert.resolved_by) == ("resolved", "auto")


def test_no_data_resolved_by_hand_is_not_reopened_while_silent(session: Session, wired) -> None:
    quiet = add_segment(session, "tenant=quiet", 5, last_seen_at=NOW - timedelta(hours=2))
    add_segment(session, "tenant=busy", 995, last_seen_at=NOW + timedelta(days=1))
    check_no_data(session, wired, NOW)
    alert = session.scalars(select(Alert)).one()
    assert alert.severity == "info"  # 0.5% of the volume
    resolve(session, alert.id, NOW + timedelta(minutes=1))
    assert check_no_data(session, wired, NOW + timedelta(hours=1)) == []
    # Traffic came back and stopped again: a new silence, a new alert.
    quiet.last_seen_at = NOW + timedelta(hours=2)
    assert check_no_data(session, wired, NOW + timedelta(hours=4)) != []
    assert alert_count(session) == 2


def test_open_or_update_never_commits(session: Session, acme, wired) -> None:
    drift = add_drift(session, acme)
    session.commit()
    open_or_update(session, drift.id, wired, NOW)
    session.rollback()
    assert alert_count(session) == 0
