"""Latency and error-rate SLOs: the counts and their burn, the workbook's pairs with the
low-traffic guard, the ``slo_latency_burn`` / ``slo_error_burn`` alerts through the lifecycle,
and ``/metrics``, on a SQLite file and on PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select
from sqlalchemy.orm import Session

from shadowgap.alerts import lifecycle
from shadowgap.config import Settings
from shadowgap.db.models import Alert, Delivery, TrafficEvent
from shadowgap.drift.signals import error_value
from shadowgap.slo import alerting
from shadowgap.slo.exposition import slo_exposition
from shadowgap.slo.objectives import latency_objective_for
from shadowgap.slo.request_rules import MIN_REQUESTS, RECOVERY_LOOKS, REQUEST_PAIRS, look
from shadowgap.slo.requests import error_clause, request_slo_statuses
from shadowgap.stats.slo import count_burn
from tests.slo.requests_data import add_requests
from tests.support.alert_formats import slack_problems
from tests.support.alert_rows import NOW, add_drift, add_segment, make_settings


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path, slack_webhook_url="http://127.0.0.1:9/slack")


def by_kind(session: Session, settings: Settings, key: str, kind: str, now=NOW):  # type: ignore[no-untyped-def]
    return next(
        s for s in request_slo_statuses(session, now, settings) if s.key == key and s.kind == kind
    )


def open_alerts(session: Session) -> list[Alert]:
    return list(session.scalars(select(Alert).where(Alert.status != "resolved")))


# --- the metric and the rules ------------------------------------------------------------------


def test_the_error_clause_counts_what_the_error_signal_counts(session: Session) -> None:
    # The SQL twin of error_value, held to it row by row: an error, a refusal nobody checks,
    # a refusal the refusal detector watches (not an error), a JSON null check, a plain ok.
    segment = add_segment(session, "tenant=rows", 6)
    cases = [
        ("error", False, None),
        ("ok", True, None),
        ("ok", True, {"refusal": True}),
        ("ok", True, {"refusal": None}),
        ("ok", True, {"truncated": False}),
        ("ok", False, {"refusal": False}),
    ]
    for index, (status, refused, checks) in enumerate(cases):
        session.add(
            TrafficEvent(
                event_id=f"row{index}",
                segment_id=segment.id,
                source_format="native",
                occurred_at=NOW - timedelta(minutes=index),
                route_tier="cheap",
                route_model="m",
                is_cheap=True,
                request={},
                prompt_hash="0" * 64,
                status=status,
                refused=refused,
                answer_checks=checks,
                attributes={},
            )
        )
    session.flush()
    rows = session.scalars(select(TrafficEvent).order_by(TrafficEvent.event_id)).all()
    in_sql = set(session.scalars(select(TrafficEvent.event_id).where(error_clause())))
    in_python = {row.event_id for row in rows if error_value(row) == 1.0}
    assert in_python == {"row0", "row1", "row3", "row4"}
    assert in_sql == in_python


def windows(requests: int, bad: int, short_requests: int, short_bad: int):  # type: ignore[no-untyped-def]
    out = {}
    for pair in REQUEST_PAIRS:
        out[pair.long_days] = count_burn(0.01, bad, requests)
        out[pair.short_days] = count_burn(0.01, short_bad, short_requests)
    return out


def test_a_handful_of_requests_cannot_page() -> None:
    # Three requests, all bad: a 100x burn of a 1% objective, and no evidence of anything.
    outcomes = look(windows(3, 3, 1, 1), share_per_week=0.01, looks_per_week=2016)
    assert not any(o.fires for o in outcomes) and not any(o.looks for o in outcomes)
    # Just under the minimum, half of them bad: still not looked at.
    outcomes = look(windows(MIN_REQUESTS - 1, 50, 10, 5), 0.01, 2016)
    assert not any(o.fires for o in outcomes)


def test_a_busy_window_pages_as_soon_as_it_crosses_the_threshold() -> None:
    # 20% bad (20x) over 10,000 requests: every pair whose threshold it passes fires.
    outcomes = look(windows(10_000, 2_000, 1_000, 200), 0.01, 2016)
    assert [o.pair.name for o in outcomes if o.fires] == ["fast", "slow", "budget"]
    # A short window confidently back under the thresholds resets them (the workbook's reset).
    reset = look(windows(10_000, 2_000, 1_000, 0), 0.01, 2016)
    assert not any(o.fires for o in reset)


def test_latency_overrides_reuse_the_objective_parser(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path,
        slo_latency_targets="tenant=hooli*=0.995",
        slo_latency_thresholds_ms="*team=batch*=60000",
    )
    hooli = latency_objective_for(settings, "tenant=hooli|team=batch")
    assert (round(hooli.allowed, 4), hooli.threshold_ms) == (0.005, 60000.0)
    other = latency_objective_for(settings, "tenant=acme")
    assert (round(other.allowed, 4), other.threshold_ms) == (0.01, 10_000.0)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("slo_latency_targets", "tenant=a=1", "slo latency target 0"),
        ("slo_latency_targets", "tenant=a", "slo latency target 0"),
        ("slo_latency_thresholds_ms", "tenant=a=-5", "slo latency threshold 0"),
        ("slo_error_objectives", "x=0.1; tenant=a=2", "slo error objective 1"),
    ],
)
def test_a_bad_override_is_refused_at_load_naming_it(field: str, value: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Settings(**{field: value})


# --- the alerts ---------------------------------------------------------------------------------


def test_three_percent_slow_alerts_and_half_a_percent_does_not(
    session: Session, settings: Settings
) -> None:
    slow = add_segment(session, "tenant=slow", 3000)
    add_requests(session, slow, n=3000, end=NOW, hours=71, slow_per_1000=30)
    fine = add_segment(session, "tenant=fine", 3000)
    add_requests(session, fine, n=3000, end=NOW, hours=71, slow_per_1000=5, tag="f")

    status = by_kind(session, settings, "tenant=slow", "latency")
    assert status.window is not None and status.window.rate == pytest.approx(3.0)
    assert status.budget is not None and status.budget.remaining == pytest.approx(-2.0)
    assert [o.pair.name for o in status.burning] == ["budget"]
    assert by_kind(session, settings, "tenant=fine", "latency").burning == []
    assert by_kind(session, settings, "tenant=slow", "error").burning == []

    ids = alerting.evaluate_requests(session, settings, NOW)
    alert = session.scalars(select(Alert)).one()
    assert (alert.segment_id, alert.signal, alert.severity) == (
        slow.id,
        "slo_latency_burn",
        "warning",
    )
    assert alert.evidence["slo"]["objective_kind"] == "latency"
    payload = next(d for d in (session.get(Delivery, i) for i in ids) if d).payload
    assert slack_problems(payload) == []
    assert (
        "[WARNING] latency SLO budget burning in tenant=slow: burning 3.0x over 3d "
        "(3.0% slower than 10,000 ms vs 1.0% allowed, n=3,000)" in str(payload)
    )
    # The next look of the same burn opens nothing new.
    assert alerting.evaluate_requests(session, settings, NOW + timedelta(minutes=5)) == []
    assert len(session.scalars(select(Alert)).all()) == 1


def test_an_outage_pages_through_the_fast_pair(session: Session, settings: Settings) -> None:
    segment = add_segment(session, "tenant=down", 2000)
    add_requests(session, segment, n=2000, end=NOW - timedelta(hours=1), hours=23, tag="a")
    # The last hour: a fifth of the requests fail (20x a 1% objective).
    add_requests(session, segment, n=500, end=NOW, hours=1, failed_per_1000=200, tag="b")
    alerting.evaluate_requests(session, settings, NOW)
    alert = session.scalars(select(Alert)).one()
    assert (alert.signal, alert.severity) == ("slo_error_burn", "error")
    fired = [w["pair"] for w in alert.evidence["slo"]["windows"] if w["fires"]]
    assert fired[0] == "fast"


def test_a_low_traffic_segment_does_not_page(session: Session, settings: Settings) -> None:
    # Every one of its requests slow and failing alike: 3 in the last hour, 60 in three days.
    quiet = add_segment(session, "tenant=quiet", 60)
    add_requests(session, quiet, n=57, end=NOW - timedelta(hours=1), hours=70, slow_per_1000=1000)
    add_requests(session, quiet, n=3, end=NOW, hours=1, failed_per_1000=1000, tag="q")
    assert alerting.evaluate_requests(session, settings, NOW) == []
    assert session.scalars(select(Alert)).all() == []
    status = by_kind(session, settings, "tenant=quiet", "error")
    assert status.window is not None and status.window.rate == pytest.approx(5.0)
    assert not any(o.looks for o in status.pairs)


def test_the_alert_resolves_once_the_burn_stops(session: Session, settings: Settings) -> None:
    segment = add_segment(session, "tenant=slow", 3000)
    add_requests(session, segment, n=3000, end=NOW, hours=71, slow_per_1000=30)
    alerting.evaluate_requests(session, settings, NOW)
    assert [a.signal for a in open_alerts(session)] == ["slo_latency_burn"]

    # Six hours at full speed: the 6-hour short window is confidently under 1x.
    later = NOW + timedelta(hours=6)
    add_requests(session, segment, n=1000, end=later, hours=6, tag="r")
    for look_index in range(RECOVERY_LOOKS):
        assert len(open_alerts(session)) == 1
        alerting.evaluate_requests(session, settings, later + timedelta(minutes=5 * look_index))
    alert = session.scalars(select(Alert)).one()
    assert (alert.status, alert.resolved_by) == ("resolved", "auto")


def test_an_open_error_rate_alert_takes_the_burn(session: Session, settings: Settings) -> None:
    # One alert per problem: the error_rate detector's alert is already open.
    segment = add_segment(session, "tenant=down", 2000)
    add_requests(session, segment, n=2000, end=NOW, hours=23, failed_per_1000=200)
    drift = add_drift(session, segment, signal="error_rate", before=0.004, after=0.2)
    lifecycle.open_or_update(session, drift.id, settings, NOW)
    assert alerting.evaluate_requests(session, settings, NOW) == []
    alert = session.scalars(select(Alert)).one()
    assert alert.signal == "error_rate"
    assert alert.evidence["slo"]["objective_kind"] == "error"


# --- /metrics -----------------------------------------------------------------------------------


def test_metrics_carry_the_request_slos_under_the_top_k(session: Session, tmp_path: Path) -> None:
    for index, slow in enumerate([60, 30, 5]):
        segment = add_segment(session, f"tenant=t{index}", 1200)
        add_requests(
            session, segment, n=1200, end=NOW, hours=71, slow_per_1000=slow, tag=f"{index}-"
        )
    settings = make_settings(tmp_path, slo_metrics_top_k=2)
    text = slo_exposition(session, settings).decode()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    remaining = families["shadowgap_slo_request_budget_remaining_ratio"].samples
    assert {(s.labels["segment"], s.labels["objective"]) for s in remaining} == {
        ("tenant=t0", "latency"),
        ("tenant=t0", "error"),
        ("tenant=t1", "latency"),
        ("tenant=t1", "error"),
    }
    burn = {
        (s.labels["segment"], s.labels["objective"], s.labels["window"]): s.value
        for s in families["shadowgap_slo_request_burn_rate"].samples
    }
    assert burn[("tenant=t0", "latency", "28d")] == pytest.approx(6.0)
    assert {w for (_, _, w) in burn} == {"1h", "6h", "3d", "28d"}
    counts = {
        (s.labels["objective"], s.labels["state"]): s.value
        for s in families["shadowgap_slo_request_segments"].samples
    }
    assert counts[("latency", "all")] == 3 and counts[("latency", "unlisted")] == 1
    assert counts[("latency", "burning")] == 2 and counts[("error", "burning")] == 0
    least = {
        s.labels["objective"]: s.value
        for s in families["shadowgap_slo_request_budget_remaining_min_ratio"].samples
    }
    assert least["latency"] == pytest.approx(-5.0) and least["error"] == pytest.approx(1.0)


def test_a_look_reads_every_segment_in_the_same_few_queries(
    session: Session, settings: Settings
) -> None:
    # One grouped count per look whatever the number of segments (not one query per segment).
    from sqlalchemy import event

    def statements(n_segments: int) -> int:
        for index in range(n_segments):
            segment = add_segment(session, f"tenant=n{n_segments}-{index}", 10)
            add_requests(session, segment, n=10, end=NOW, hours=5, tag=f"{n_segments}-")
        seen: list[str] = []

        def count(*args: object) -> None:
            seen.append(str(args[2]))

        bind = session.get_bind()
        event.listen(bind, "before_cursor_execute", count)
        try:
            statuses = request_slo_statuses(session, NOW, settings)
        finally:
            event.remove(bind, "before_cursor_execute", count)
        assert len({s.segment_id for s in statuses}) >= n_segments
        return len(seen)

    assert statements(2) == statements(40)
