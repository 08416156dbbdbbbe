"""The exploration draw (issue 23): independent of the base draw, recorded, never past the
budget, and invisible to the segment quality detectors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from shadowgap.config import Settings, get_settings
from shadowgap.db import models
from shadowgap.db.engine import session_scope
from shadowgap.drift.signals import quality_stream
from shadowgap.shadow.sampling import (
    base_budget_fraction,
    combined_probability,
    decide,
    decide_explored,
    plan_allocation,
)
from tests.support.factories import native_event
from tests.support.settings import auth


def test_explored_draw_is_independent_and_its_probability_is_the_union() -> None:
    settings = Settings(noise_floor_fraction=0.0)
    n, p_base, p_explore = 40_000, 0.05, 0.3
    decisions = [decide_explored(f"e{i}", p_base, p_explore, settings) for i in range(n)]
    base = np.asarray([d.base for d in decisions])
    explore = np.asarray([d.explore for d in decisions])
    # The base draw is exactly the plain decision: the base design's sample is unchanged.
    assert base.tolist() == [decide(f"e{i}", p_base, settings).sampled for i in range(n)]
    assert base.mean() == pytest.approx(p_base, abs=0.005)
    assert explore.mean() == pytest.approx(p_explore, abs=0.01)
    # Independent draws: P(both) = p_base * p_explore.
    assert (base & explore).mean() == pytest.approx(p_base * p_explore, abs=0.003)
    union = combined_probability(p_base, p_explore)
    assert union == pytest.approx(1 - 0.95 * 0.7)
    assert np.mean([d.sampled for d in decisions]) == pytest.approx(union, abs=0.01)
    assert all(d.probability == union for d in decisions)
    # No boost: the plain decision.
    plain = decide_explored("x", p_base, 0.0, settings)
    assert not plain.explore and plain.probability == p_base


def test_hajek_weights_stay_unbiased_under_exploration() -> None:
    # A boosted sub-population with a higher rate: weighting by the combined probability
    # recovers the population rate, the base draw alone (unweighted) does too.
    rng = np.random.default_rng(3)
    settings = Settings(noise_floor_fraction=0.0)
    n = 60_000
    boosted = rng.random(n) < 0.05
    y = np.where(boosted, rng.random(n) < 0.6, rng.random(n) < 0.2).astype(float)
    ds = [decide_explored(f"u{i}", 0.05, 0.4 if boosted[i] else 0.0, settings) for i in range(n)]
    taken = np.asarray([d.sampled for d in ds])
    weights = np.asarray([1 / d.probability for d in ds])
    hajek = (weights * y)[taken].sum() / weights[taken].sum()
    naive = y[taken].mean()
    base_only = y[np.asarray([d.base for d in ds])].mean()
    truth = y.mean()
    assert hajek == pytest.approx(truth, abs=0.01)
    assert base_only == pytest.approx(truth, abs=0.015)
    assert naive > truth + 0.05  # what the detectors would see without the base-draw filter


def test_base_design_plans_with_what_exploration_leaves() -> None:
    settings = Settings(sampling_budget_fraction=0.02, slice_exploration_share=0.13)
    assert base_budget_fraction(settings) == pytest.approx(0.02 * 0.87)
    volume = {0: 10_000.0, 1: 3_000.0, 2: 1_000.0}
    plans = plan_allocation(volume, events_per_week=30_000, settings=settings, exploring=True)
    assert sum(p.verdicts_per_week for p in plans.values()) == pytest.approx(0.02 * 0.87 * 30_000)
    # Nothing under watch: the base design spends the whole budget (no idle share).
    idle = plan_allocation(volume, events_per_week=30_000, settings=settings)
    assert sum(p.verdicts_per_week for p in idle.values()) == pytest.approx(0.02 * 30_000)
    assert base_budget_fraction(Settings(sampling_budget_fraction=1.0)) == 1.0
    with pytest.raises(ValueError, match="slice_exploration_share"):
        Settings(slice_exploration_share=1.0)


def test_ingest_records_which_draw_took_an_event_and_detectors_skip_explored(
    production: str, configure, client: TestClient
) -> None:
    configure(sampling_warmup_events=0, sampling_budget_fraction=0.02, noise_floor_fraction=0.0)
    now = datetime.now(UTC)
    with session_scope() as session:
        session.add(
            models.SliceWatch(
                key="api_key_alias=bulk",
                conditions=[{"feature": "api_key_alias", "value": "bulk"}],
                status="watching",
                nominated_at=now - timedelta(days=1),
                volume_per_day=100.0,
                boost=0.5,
                evidence={"z": 2.5, "p_value": 0.006, "difference": 0.2, "n": 12.0},
                looks_done=0,
                pairs=0,
            )
        )
    events = [
        native_event(
            f"x-{i}",
            row=i,
            at=now - timedelta(minutes=400 - i),
            attributes={"tenant": "acme", "api_key_alias": "bulk" if i % 2 else "app"},
        )
        for i in range(400)
    ]
    for start in range(0, 400, 100):
        response = client.post("/v1/events", json=events[start : start + 100], headers=auth())
        assert response.status_code == 200, response.text
    with session_scope() as session:
        rows = session.execute(
            select(models.SamplingDecision, models.TrafficEvent.event_id).join(
                models.TrafficEvent, models.TrafficEvent.id == models.SamplingDecision.event_pk
            )
        ).all()
    bulk = [d for d, event_id in rows if int(event_id.split("-")[1]) % 2]
    app = [d for d, event_id in rows if not int(event_id.split("-")[1]) % 2]
    # Matching requests: the union probability, the base probability kept, some taken by
    # the exploration draw alone; the others: the base design only.
    assert len(bulk) > 3 * max(len(app), 1)
    assert all(d.base_probability is not None for d in bulk)
    assert all(
        d.inclusion_probability == pytest.approx(combined_probability(d.base_probability or 0, 0.5))
        for d in bulk
    )
    assert any(not d.base_draw for d in bulk)
    assert all(d.base_draw and d.base_probability is None for d in app)
    # The segment page shows what exploration spent there.
    page = client.get("/segments/tenant=acme", headers=auth("read"))
    card = page.text.split('id="explored-share"><b>')[1].split("</b>")[0]
    explored = sum(not d.base_draw for d, _ in rows) / len(rows)
    assert card == f"{explored * 100:.1f}%", card

    # The quality detectors' stream skips the exploration-only draws and weighs the others by
    # the base probability.
    from shadowgap.drift.store import _new_verdicts

    with session_scope() as session:
        segment_id = session.scalars(select(models.Segment.id)).one()
        session.add_all(
            models.Verdict(
                event_pk=d.event_pk,
                segment_id=segment_id,
                kind="gap",
                judge="answer-match",
                winner="flagship",
                gap_score=1.0,
                inclusion_probability=d.inclusion_probability,
                raw={},
                rationale="",
            )
            for d, _ in rows
        )
        session.flush()
        verdicts = _new_verdicts(session, segment_id, 0, 10_000)
        stream = quality_stream(verdicts)
    base_draws = {d.event_pk: d for d, _ in rows if d.base_draw}
    assert sorted(pk for _, pk, _, _ in stream) == sorted(base_draws)
    for _, pk, _, weight in stream:
        decision = base_draws[pk]
        expected = decision.base_probability or decision.inclusion_probability
        assert weight == pytest.approx(1 / expected)
    assert get_settings().slice_exploration_share > 0
