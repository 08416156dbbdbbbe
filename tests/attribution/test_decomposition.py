"""The decomposition finds the cause that was injected, and its parts add up."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from benchmarks.attribution_scenarios import BASE, SCENARIOS, Params, generate
from shadowgap.attribution.bands import routing_boundary
from shadowgap.attribution.decomposition import decompose
from shadowgap.attribution.explain import explain_periods
from shadowgap.attribution.latency import attribute_latency

N = 6000


def _pair(after: Params, seed: int, before: Params = BASE) -> tuple:
    rng = np.random.default_rng(seed)
    return generate(before, N, rng), generate(after, N, rng)


@pytest.mark.parametrize("scenario", ["routing_share", "cheap_quality", "traffic_mix"])
def test_true_cause_gets_most_of_the_quality_change(scenario: str) -> None:
    factor, after = SCENARIOS[scenario]
    shares = []
    for seed in range(4):
        d = decompose(*_pair(after, seed), "quality", n_resamples=0)
        assert sum(d.parts.values()) == pytest.approx(d.change)
        assert d.change > 0
        shares.append(d.shares()[factor])
    assert np.mean(shares) > 0.8
    others = [name for name in d.parts if name != factor]
    assert all(abs(d.parts[o]) < abs(d.parts[factor]) for o in others)


def test_moved_threshold_leaves_cheap_quality_and_mix_at_zero_without_noise() -> None:
    # Same events, only the routing threshold moved: every band's rate and mix are identical.
    rng = np.random.default_rng(3)
    before = generate(BASE, N, rng)
    after = replace(before, cheap=(before.score < 0.65).astype(float))
    after = replace(after, verdict_weight=np.where(after.cheap > 0, 2.0, 0.0))
    before = replace(before, verdict_weight=np.where(before.cheap > 0, 2.0, 0.0))
    won = (rng.random(N) < 0.05 + 0.4 * before.score).astype(float)
    before, after = replace(before, flagship_won=won), replace(after, flagship_won=won)
    assert routing_boundary(before) == pytest.approx(0.5, abs=0.01)
    d = decompose(before, after, "quality", n_resamples=0)
    assert d.parts["traffic_mix"] == pytest.approx(0.0, abs=1e-12)
    assert d.parts["cheap_quality"] == pytest.approx(0.0, abs=1e-12)
    assert d.shares()["router_share"] == pytest.approx(1.0)


def test_after_window_without_verdicts_moves_no_cheap_quality() -> None:
    # A routing-share alert opens before the shadow runs of its after-window are judged: the
    # threshold moved up (0.5 -> 0.65) and not one pair of the after-window is judged yet.
    # The bands above the old threshold have no verdict in either period; the after-period,
    # which has none at all, borrows the before-period's overall rate for them instead of
    # counting them as never lost, so the cheap path gets no part.
    rng = np.random.default_rng(3)
    before = generate(BASE, N, rng)
    won = (rng.random(N) < 0.05 + 0.4 * before.score).astype(float)
    before = replace(
        before,
        verdict_weight=np.where(before.cheap > 0, 2.0, 0.0),
        flagship_won=won * (before.cheap > 0),
    )
    after = replace(
        before,
        cheap=(before.score < 0.65).astype(float),
        verdict_weight=np.zeros(N),
        flagship_won=np.zeros(N),
    )
    d = decompose(before, after, "quality", n_resamples=0)
    assert d.change > 0
    assert d.parts["cheap_quality"] == pytest.approx(0.0, abs=1e-12)
    assert d.shares()["router_share"] == pytest.approx(1.0)


def test_without_scores_quality_and_mix_are_reported_together() -> None:
    factor, after = SCENARIOS["traffic_mix"]
    unscored = replace(after, with_scores=False)
    d = decompose(*_pair(unscored, 5, replace(BASE, with_scores=False)), "quality", n_resamples=0)
    assert not d.scored
    assert set(d.parts) == {"router_share", "cheap_path"}
    assert sum(d.parts.values()) == pytest.approx(d.change)


def test_cost_follows_the_router_share() -> None:
    _, after = SCENARIOS["routing_share"]
    d = decompose(*_pair(after, 9), "cost", n_resamples=0)
    # More requests cheap: cost per request falls, and the router is why.
    assert d.change < 0
    assert d.shares()["router_share"] > 0.8


def test_intervals_cover_the_point_estimates() -> None:
    _, after = SCENARIOS["cheap_quality"]
    d = decompose(*_pair(after, 11), "quality", n_resamples=199)
    assert d.change_ci is not None and d.change_ci[0] < d.change < d.change_ci[1]
    low, high = d.parts_ci["cheap_quality"]  # type: ignore[misc]
    assert low < d.parts["cheap_quality"] < high and low > 0
    assert d.parts_ci["router_share"] == (0.0, 0.0)


def test_escalations_explain_a_tail_only_rise() -> None:
    _, after = SCENARIOS["tail_escalations"]
    before, later = _pair(after, 13)
    la = attribute_latency(before, later)
    assert la.change is not None and la.change > 100
    assert la.mix_share is not None and la.mix_share > 0.7
    assert la.after_tail_escalated > la.before_tail_escalated  # type: ignore[operator]
    assert la.after_tax["tax_ms"] > la.before_tax["tax_ms"]  # type: ignore[operator]
    # The mean barely moves: a tail-only change.
    assert abs(np.nanmean(later.latency) / np.nanmean(before.latency) - 1) < 0.1


def test_explanation_view_is_json_and_names_the_cause() -> None:
    _, after = SCENARIOS["routing_share"]
    view = explain_periods(*_pair(after, 17), n_resamples=49, signal="routing_share")
    assert view["available"] and view["scored"]
    assert "router sending more of this segment cheap" in view["headline"]
    assert view["headline"].endswith("cheap") and "% of the rise" in view["headline"]
    factors = {f["factor"]: f for f in view["quality"]["factors"]}
    assert set(factors) == {"router_share", "cheap_quality", "traffic_mix"}
    assert sum(f["contribution"] for f in factors.values()) == pytest.approx(
        view["quality"]["change"]
    )
    latency = explain_periods(*_pair(after, 17), n_resamples=0, signal="latency")
    assert latency["headline"].startswith("p95 ")
