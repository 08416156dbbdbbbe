"""Quality SLOs: the metric, the burn-rate rules, the slo_burn alert through the lifecycle, and
the views (/metrics top-k, the weekly report's rows), on a SQLite file database."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select
from sqlalchemy.orm import Session

from shadowgap.alerts import lifecycle
from shadowgap.config import Settings
from shadowgap.db.models import Alert, Delivery
from shadowgap.slo import alerting
from shadowgap.slo.budget import burning_scopes, slo_statuses
from shadowgap.slo.exposition import slo_exposition
from shadowgap.slo.objectives import objective_for
from shadowgap.slo.rules import MIN_LONG_PAIRS, PAIRS, RECOVERY_LOOKS, WindowPairs, look
from shadowgap.stats.excess_gap import WeightedSums
from shadowgap.stats.slo import budget, burn, burn_evidence
from tests.slo.pairs import add_pairs
from tests.support.alert_formats import pagerduty_problems, slack_problems
from tests.support.alert_rows import NOW, ROUTING_KEY, add_drift, add_segment, make_settings


def sums(n: int, wins: int, weight: float = 1.0) -> WeightedSums:
    return WeightedSums(n, n * weight, wins * weight, n * weight * weight, wins * weight * weight)


NOISE = sums(1000, 100)  # a deployment-wide floor of 0.10


# --- the metric ------------------------------------------------------------------------------


def test_budget_counts_allowed_and_spent_excess_wins() -> None:
    # 30% flagship wins against a 10% floor: excess 0.20 per cheap-routed request, twice 0.10.
    window = burn(sums(200, 60), WeightedSums(), NOISE, objective=0.1)
    assert window.excess == pytest.approx(0.2)
    assert window.rate == pytest.approx(2.0)
    spent = budget(window, cheap_requests=5000)
    assert spent.allowed == pytest.approx(500.0)
    assert spent.spent == pytest.approx(1000.0)
    assert spent.remaining == pytest.approx(-1.0)
    low, high = spent.spent_interval  # type: ignore[misc]
    assert low < 1000.0 < high


def test_weights_enter_the_rate_and_the_evidence() -> None:
    # Hajek: the same outcomes at equal weights give the same rate; unequal weights move it
    # and shrink the effective sample size (less evidence for the same point estimate).
    equal = burn_evidence(sums(200, 60), WeightedSums(), NOISE, 0.1, 0.5)
    heavy = WeightedSums(200, 100 * 1 + 100 * 9, 30 * 1 + 30 * 9, 100 + 100 * 81, 30 + 30 * 81)
    uneven = burn_evidence(heavy, WeightedSums(), NOISE, 0.1, 0.5)
    assert equal is not None and uneven is not None
    assert burn(heavy, WeightedSums(), NOISE, 0.1).excess == pytest.approx(0.2)
    assert 0 < uneven < equal


def test_a_handful_of_flagship_wins_is_little_evidence() -> None:
    # 5 of 8 to the flagship: a Wald z would be ~3.8; the likelihood ratio says ~3.1.
    z = burn_evidence(sums(8, 5), WeightedSums(), NOISE, 0.1, 0.5)
    assert z is not None and 2.8 < z < 3.3


def test_objective_overrides_match_segment_keys_and_slices(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, slo_objectives="tenant=hooli*=0.05; *team=batch*=0.2")
    assert objective_for(settings, "tenant=hooli|team=batch") == 0.05
    assert objective_for(settings, "tenant=acme|team=batch") == 0.2
    assert objective_for(settings, "tenant=acme") == settings.slo_objective


@pytest.mark.parametrize("bad", ["tenant=acme", "tenant=acme=2", "=0.1", "tenant=acme=x"])
def test_a_bad_objective_is_refused_at_load_naming_the_entry(bad: str) -> None:
    with pytest.raises(ValueError, match="slo objective 0"):
        Settings(slo_objectives=bad)


# --- the rules -------------------------------------------------------------------------------


def windows(long_n: int, long_wins: int, short_n: int, short_wins: int) -> dict[float, WindowPairs]:
    """Every pair's long window the same, every short window the same."""
    out = {}
    for pair in PAIRS:
        out[pair.long_days] = WindowPairs(sums(long_n, long_wins), WeightedSums(), NOISE)
        out[pair.short_days] = WindowPairs(sums(short_n, short_wins), WeightedSums(), NOISE)
    return out


def test_a_small_noisy_window_does_not_look() -> None:
    outcomes = look(windows(MIN_LONG_PAIRS - 1, 40, 5, 3), 0.1, 1 / 180, 7.0)
    assert not any(o.fires for o in outcomes)
    assert all(o.z_critical == float("inf") for o in outcomes)


def test_a_clear_burn_fires_every_pair_whose_threshold_it_passes() -> None:
    # 60% flagship wins: excess 0.5, burn 5x, over 400 pairs.
    outcomes = look(windows(400, 240, 100, 60), 0.1, 1 / 180, 7.0)
    assert [o.pair.name for o in outcomes if o.fires] == ["fast", "slow", "budget"]


def test_a_confidently_recovered_short_window_vetoes() -> None:
    # The long window burns at 2x; the last short window's 200 pairs are at the floor.
    burning = look(windows(400, 120, 200, 60), 0.1, 1 / 180, 7.0)
    recovered = look(windows(400, 120, 200, 20), 0.1, 1 / 180, 7.0)
    assert [o.pair.name for o in burning if o.fires] == ["budget"]
    assert not any(o.fires for o in recovered)


# --- the alert -------------------------------------------------------------------------------


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(
        tmp_path,
        slack_webhook_url="http://127.0.0.1:9/slack",
        pagerduty_routing_key=ROUTING_KEY,
        pagerduty_events_url="http://127.0.0.1:9/pd",
    )


def burning_segment(session: Session, key: str = "tenant=hooli"):  # type: ignore[no-untyped-def]
    segment = add_segment(session, key, 240)
    # 40% flagship wins against the floor of 10%: excess 0.3, three times the objective.
    add_pairs(session, segment, n=240, wins_per_10=4, end=NOW, days=27, noise_wins_per_10=1)
    return segment


def test_a_burning_segment_raises_one_alert_on_the_usual_channels(
    session: Session, settings: Settings
) -> None:
    segment = burning_segment(session)
    calm = add_segment(session, "tenant=acme", 240)
    add_pairs(session, calm, n=240, wins_per_10=1, end=NOW, days=27, tag="c")

    statuses = {s.key: s for s in slo_statuses(session, NOW, settings)}
    assert statuses["tenant=hooli"].window.rate == pytest.approx(3.0)
    assert statuses["tenant=hooli"].budget.cheap_requests == 240
    assert statuses["tenant=hooli"].budget.remaining == pytest.approx(-2.0)
    assert statuses["tenant=acme"].window.rate == pytest.approx(0.0)
    assert [s.key for s in burning_scopes(session, NOW, settings)] == ["tenant=hooli"]

    ids = alerting.evaluate(session, settings, NOW)
    alert = session.scalars(select(Alert)).one()
    assert (alert.segment_id, alert.signal, alert.status) == (segment.id, "slo_burn", "open")
    assert alert.evidence["type"] == "slo_burn"
    assert alert.evidence["slo"]["objective"] == settings.slo_objective
    payloads = {d.channel: d.payload for d in (session.get(Delivery, i) for i in ids) if d}
    assert "slack" in payloads
    assert slack_problems(payloads["slack"]) == []
    text = str(payloads["slack"])
    # The slow pair (7 days) fires first in the list: its own burn rate is the headline's.
    assert "[WARNING] quality SLO budget burning in tenant=hooli: burning 2.9x over 7 d" in text
    if "pagerduty" in payloads:
        assert pagerduty_problems({**payloads["pagerduty"], "routing_key": "x" * 32}) == []

    # The next look of the same problem opens nothing new (one alert per problem).
    assert alerting.evaluate(session, settings, NOW + timedelta(hours=1)) == []
    assert len(session.scalars(select(Alert)).all()) == 1


def test_an_open_quality_gap_alert_takes_the_burn_instead_of_a_second_alert(
    session: Session, settings: Settings
) -> None:
    segment = burning_segment(session)
    drift = add_drift(session, segment)
    lifecycle.open_or_update(session, drift.id, settings, NOW)

    assert alerting.evaluate(session, settings, NOW) == []
    alert = session.scalars(select(Alert)).one()
    assert alert.signal == "quality_gap"
    assert alert.evidence["slo"]["burn_rate"] == pytest.approx(3.0)


def test_the_alert_resolves_once_the_budget_no_longer_burns(
    session: Session, settings: Settings
) -> None:
    segment = burning_segment(session)
    alerting.evaluate(session, settings, NOW)
    later = NOW + timedelta(days=30)
    # A month of pairs at the floor: every window is past the burn.
    add_pairs(
        session, segment, n=240, wins_per_10=1, end=later, days=27, noise_wins_per_10=1, tag="r"
    )

    # Recovered at one look is not enough: it must hold for RECOVERY_LOOKS looks in a row.
    for look_index in range(RECOVERY_LOOKS):
        alert = session.scalars(select(Alert)).one()
        assert alert.status == "open"
        alerting.evaluate(session, settings, later + timedelta(hours=look_index))
    alert = session.scalars(select(Alert)).one()
    assert (alert.status, alert.resolved_by) == ("resolved", "auto")


# --- /metrics --------------------------------------------------------------------------------


def test_metrics_list_the_top_k_segments_and_aggregate_the_rest(
    session: Session, tmp_path: Path
) -> None:
    for index, wins in enumerate([4, 3, 2, 1]):
        segment = add_segment(session, f"tenant=t{index}", 240)
        add_pairs(session, segment, n=120, wins_per_10=wins, end=NOW, days=27, tag=f"{index}-")
    settings = make_settings(tmp_path, slo_metrics_top_k=2)

    text = slo_exposition(session, settings).decode()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    listed = {s.labels["segment"] for s in families["shadowgap_slo_budget_remaining_ratio"].samples}
    assert listed == {"tenant=t0", "tenant=t1"}  # the two burning fastest
    counts = {s.labels["state"]: s.value for s in families["shadowgap_slo_segments"].samples}
    assert counts["all"] == 4 and counts["unlisted"] == 2
    least = families["shadowgap_slo_budget_remaining_min_ratio"].samples[0].value
    # No noise pairs anywhere: the floor is 0, so 40% flagship wins is a burn of 4x.
    assert least == pytest.approx(-3.0)


def test_the_weekly_report_rows_carry_the_slo(session: Session, settings: Settings) -> None:
    from shadowgap.reporting.weekly import _attach_slo

    segment = burning_segment(session)
    quiet = add_segment(session, "tenant=quiet", 10)
    rows = [{"segment_id": segment.id}, {"segment_id": quiet.id}]
    _attach_slo(session, rows, NOW, settings)
    assert rows[0]["slo"]["burn_rate"] == pytest.approx(3.0)
    assert rows[0]["slo"]["budget_remaining"] == pytest.approx(-2.0)
    assert rows[0]["slo"]["burning"] == ["slow", "budget"]
    assert rows[1]["slo"]["burn_rate"] is None  # no judged pairs in the window
    assert rows[1]["slo"]["budget_remaining"] is None and rows[1]["slo"]["burning"] == []
