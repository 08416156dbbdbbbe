"""Per-segment sampling: deterministic, budget-preserving, small segments over-sampled."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from shadowgap.config import Settings
from shadowgap.db import models
from shadowgap.db.engine import session_scope
from shadowgap.shadow.sampling import (
    TrafficTotals,
    allocation_probability,
    decide,
    hash_unit,
    inclusion_probability,
    plan_allocation,
)
from tests.support.factories import native_event
from tests.support.settings import auth


def test_hash_is_deterministic_and_uniform() -> None:
    assert hash_unit("s", "evt-1") == hash_unit("s", "evt-1")
    assert hash_unit("s", "evt-1") != hash_unit("t", "evt-1")
    values = [hash_unit("s", f"e{i}") for i in range(20_000)]
    assert 0.49 < sum(values) / len(values) < 0.51
    assert sum(v < 0.1 for v in values) / len(values) == pytest.approx(0.1, abs=0.01)


def test_allocation_keeps_the_budget_and_oversamples_small_segments() -> None:
    shares = [0.03, 0.07, 0.2, 0.3, 0.4]
    budget = 0.02
    probabilities = [allocation_probability(s, len(shares), budget, 0.8) for s in shares]
    spent = sum(p * s for p, s in zip(probabilities, shares, strict=True))
    assert spent == pytest.approx(budget, abs=1e-12)
    assert probabilities[0] / budget > 5  # the 3% segment, vs uniform sampling at 2%
    assert probabilities == sorted(probabilities, reverse=True)


def test_inclusion_probability_floor_warmup_and_cap() -> None:
    settings = Settings(
        sampling_budget_fraction=0.02, sampling_warmup_events=50, sampling_min_rate=0.05
    )
    totals = TrafficTotals(events=100_000, cheap_events=50_000, cheap_segments=4)
    assert inclusion_probability(10, totals, settings) == min(1.0, 10 * 0.04)
    big = inclusion_probability(40_000, totals, settings)
    assert big == 0.05  # floored
    capped = Settings(sampling_budget_fraction=0.9, sampling_warmup_events=0)
    assert inclusion_probability(100, totals, capped) == 1.0


def test_decision_reproducible_and_noise_replicates() -> None:
    settings = Settings(noise_floor_fraction=0.5)
    decisions = [decide(f"e{i}", 0.3, settings) for i in range(2000)]
    assert decisions == [decide(f"e{i}", 0.3, settings) for i in range(2000)]
    sampled = [d for d in decisions if d.sampled]
    assert 0.25 < len(sampled) / 2000 < 0.35
    assert 0.4 < sum(d.replicates == 2 for d in sampled) / len(sampled) < 0.6
    assert all(d.replicates == 1 for d in decisions if not d.sampled)


def test_only_cheap_events_are_sampled_and_probability_is_stored(
    embedded: str, configure, client: TestClient
) -> None:
    configure(sampling_budget_fraction=1.0, sampling_warmup_events=0)
    events = [native_event(f"c-{i}", row=i) for i in range(20)] + [
        native_event(f"f-{i}", tier="flagship", row=i) for i in range(20)
    ]
    result = client.post("/v1/events", json=events, headers=auth()).json()
    with session_scope() as session:
        rows = session.execute(
            select(models.SamplingDecision, models.TrafficEvent).join(
                models.TrafficEvent, models.TrafficEvent.id == models.SamplingDecision.event_pk
            )
        ).all()
    assert result["sampled"] == len(rows) > 0
    assert all(event.is_cheap for _, event in rows)
    assert all(0 < decision.inclusion_probability <= 1 for decision, _ in rows)
    assert all(decision.hash_value < decision.inclusion_probability for decision, _ in rows)


def test_power_allocation_equalises_detection_time_within_the_budget() -> None:
    # A budget that cannot give every segment a 0.15 rise within 7 days.
    settings = Settings(sampling_budget_fraction=0.02, min_detectable_effect=0.15)
    weights = [1 / rank for rank in range(1, 11)]
    volume = {i: 21_000 * w / sum(weights) for i, w in enumerate(weights)}  # cheap/week
    plans = plan_allocation(volume, events_per_week=30_000, settings=settings)
    spent = sum(plan.verdicts_per_week for plan in plans.values())
    assert spent == pytest.approx(600, rel=1e-6)  # 2% of 30,000 a week, all of it
    days = [plan.detection_days for plan in plans.values()]
    assert max(days) == pytest.approx(min(days), rel=0.05)  # minimax: one detection time
    # The smallest segment is sampled far above the uniform rate (600 / 21,000).
    assert plans[9].probability > 2.5 * 600 / 21_000


def test_power_allocation_spends_a_rich_budget_and_flags_underpowered() -> None:
    rich = Settings(sampling_budget_fraction=0.2, min_detectable_effect=0.3)
    plans = plan_allocation({1: 10_000.0, 2: 1_000.0}, events_per_week=20_000, settings=rich)
    assert sum(p.verdicts_per_week for p in plans.values()) == pytest.approx(4_000, rel=1e-6)
    assert not any(p.underpowered for p in plans.values())
    assert plans[2].probability == 1.0  # the small segment's whole volume, the rest to the big
    poor = Settings(sampling_budget_fraction=0.001, min_detectable_effect=0.15)
    plans = plan_allocation({1: 10_000.0, 2: 1_000.0}, events_per_week=20_000, settings=poor)
    assert all(p.underpowered for p in plans.values())
    assert all(p.detection_days > poor.detection_days for p in plans.values())


def test_a_replay_draws_the_same_sample(tmp_path, configure) -> None:  # type: ignore[no-untyped-def]
    """The same traffic, sent again into a fresh deployment, is sampled identically: the
    allocation refreshes at the same points of the traffic, not on a timer."""
    from shadowgap.api.app import create_app
    from tests.support.settings import API_KEY, migrate

    tenants = ["acme"] * 12 + ["globex"] * 5 + ["hooli"]
    events = [native_event(f"r-{i}", tenant=tenants[i % len(tenants)], row=i) for i in range(4_000)]
    samples = []
    for run in ("first", "replay"):
        database = f"sqlite:///{tmp_path}/{run}.db"
        configure(
            database_url=database, broker_url=f"sqla+sqlite:///{tmp_path}/b.db", api_keys=API_KEY
        )
        migrate(database)
        with TestClient(create_app()) as client:
            for start in range(0, len(events), 250):
                batch = events[start : start + 250]
                assert client.post("/v1/events", json=batch, headers=auth()).status_code == 200
        with session_scope() as session:
            samples.append(
                session.execute(
                    select(
                        models.TrafficEvent.event_id, models.SamplingDecision.inclusion_probability
                    )
                    .join(
                        models.SamplingDecision,
                        models.SamplingDecision.event_pk == models.TrafficEvent.id,
                    )
                    .order_by(models.TrafficEvent.event_id)
                ).all()
            )
    assert len(samples[0]) > 50
    assert samples[0] == samples[1]


def test_router_errors_are_not_shadowed_but_count_as_errors(
    any_db: str, configure, client: TestClient
) -> None:
    from shadowgap.config import get_settings
    from shadowgap.drift.store import update_segment

    configure(sampling_budget_fraction=1.0, sampling_warmup_events=0)
    answered = [native_event(f"ok-{i}", row=i) for i in range(12)]
    failed = [
        native_event(f"err-{i}", row=i, status="error", error="upstream 502", answer=None)
        for i in range(8)
    ]
    body = client.post("/v1/events", json=answered + failed, headers=auth()).json()

    # Every answered cheap event is sampled at budget 1.0; no router error is.
    assert (body["new"], body["sampled"]) == (20, 12), body
    with session_scope() as session:
        shadowed = session.scalars(
            select(models.TrafficEvent.event_id).join(
                models.SamplingDecision,
                models.SamplingDecision.event_pk == models.TrafficEvent.id,
            )
        ).all()
        assert sorted(shadowed) == sorted(e["event_id"] for e in answered)
        # The errors still feed the error-rate signal: 8 of 20 events.
        segment_id = session.scalars(select(models.Segment.id)).one()
        batches = {b.signal: b for b in update_segment(session, segment_id, get_settings())}
    assert batches["error_rate"].n_new == 20
    assert batches["error_rate"].recent_mean == pytest.approx(8 / 20)


def test_a_smaller_false_alarm_share_buys_a_segment_more_of_the_budget() -> None:
    # A detector allowed fewer false alarms has a higher threshold and needs more verdicts: the
    # planner gives it more, and the budget still adds up.
    settings = Settings(sampling_budget_fraction=0.02)
    shares = {0: 0.03, 1: 0.07, 2: 0.2, 3: 0.3, 4: 0.4}
    volumes = {key: 100_000 * share for key, share in shares.items()}
    equal = plan_allocation(volumes, 100_000, settings)
    by_traffic = plan_allocation(volumes, 100_000, settings, false_alarm_weights=shares)
    assert by_traffic[0].probability > equal[0].probability
    assert by_traffic[4].probability < equal[4].probability
    for plans in (equal, by_traffic):
        spent = sum(plans[key].probability * volumes[key] for key in volumes)
        assert spent == pytest.approx(0.02 * 100_000, rel=1e-3)
