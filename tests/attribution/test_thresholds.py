"""Threshold what-if: coverage, the recommendation, the reverse shadow, API, CLI and chart."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import numpy as np
import pytest
from fastapi.testclient import TestClient
from scipy.stats import norm
from typer.testing import CliRunner

from benchmarks.attribution_scenarios import BASE, generate, noise_pairs, reverse_pairs
from shadowgap.attribution.thresholds import (
    CANDIDATE_CONFIDENCE,
    JudgedPairs,
    ThresholdRow,
    pair_sums,
    recommend,
    threshold_table,
    upper_bound,
)
from shadowgap.cli.main import app
from shadowgap.db.engine import session_scope
from shadowgap.db.models import Segment, Verdict
from shadowgap.stats.estimates import Z_95
from shadowgap.stats.excess_gap import ExcessGap, WeightedSums, excess_gap, standard_error
from tests.support.attribution_store import store_period
from tests.support.settings import auth

N = 20_000


def _noise(rng: np.random.Generator) -> WeightedSums:
    won = noise_pairs(2000, rng)
    return WeightedSums(
        won.size, float(won.size), float(won.sum()), float(won.size), float(won.sum())
    )


def _pairs(period, reverse=None) -> JudgedPairs:
    judged = period.verdict_weight > 0
    score, won, weight = (
        period.score[judged],
        period.flagship_won[judged],
        period.verdict_weight[judged],
    )
    flags = np.zeros(score.size, dtype=bool)
    if reverse is not None:
        score = np.concatenate([score, reverse[0]])
        won = np.concatenate([won, reverse[1]])
        weight = np.concatenate([weight, reverse[2]])
        flags = np.concatenate([flags, np.ones(reverse[0].size, dtype=bool)])
    return JudgedPairs(score, won, weight, flags)


def test_forward_pairs_only_cover_stricter_thresholds() -> None:
    rng = np.random.default_rng(1)
    period = generate(BASE, N, rng)
    rows = threshold_table(period, _pairs(period), _noise(rng), WeightedSums())
    assert [r.covered for r in rows] == [r.threshold <= 0.5 for r in rows]
    assert all(r.gap is None for r in rows if not r.covered)
    # The true excess gap below t is 0.2 t (win rate 0.05 + 0.4 s, noise floor 0.05).
    for row in rows:
        if row.gap is not None and row.threshold > 0.2:
            assert row.gap.ci_low < 0.2 * row.threshold < row.gap.ci_high
    cheap = [r.cheap_share for r in rows]
    assert cheap == sorted(cheap)
    costs = [r.cost_per_request for r in rows]
    assert costs == sorted(costs, reverse=True)  # more cheap, cheaper
    best = recommend(rows, 0.05)
    assert best is not None and best.gap is not None and best.gap.excess is not None
    # Its bound (with the boundary's standard error when that is smaller) clears the target.
    bound = upper_bound(best.gap)
    assert bound is not None and best.gap.excess < 0.05 and best.gap.excess < bound
    # The bound must clear the target, so the pick is at or below the true limit of 0.25.
    assert 0.05 < best.threshold <= 0.25


def test_table_sums_are_the_pairs_below_each_threshold() -> None:
    # The table's running sums against pair_sums of the pairs below each threshold, with ties
    # on the candidates (scores rounded to 0.01) and the 'above' direction.
    rng = np.random.default_rng(6)
    period = generate(BASE, 5000, rng)
    period = replace(period, score=np.round(period.score, 2))
    pairs = _pairs(period)
    noise = _noise(rng)
    for cheap_below in (True, False):
        rows = threshold_table(period, pairs, noise, WeightedSums(), cheap_below=cheap_below)
        assert len(rows) > 10
        for row in rows:
            side = pairs.score < row.threshold if cheap_below else pairs.score > row.threshold
            if row.gap is None:
                continue
            expected = excess_gap(
                pair_sums(pairs.flagship_won[side], pairs.weight[side]), noise, WeightedSums()
            )
            assert row.gap.gap_pairs == int(side.sum())
            assert row.gap.excess == pytest.approx(expected.excess, abs=1e-12)
            assert row.gap.ci_high == pytest.approx(expected.ci_high, abs=1e-12)
            share = (
                (period.score < row.threshold) if cheap_below else (period.score > row.threshold)
            )
            assert row.cheap_share == pytest.approx(share.mean())


def _row(share: float, excess: float, se: float) -> ThresholdRow:
    gap = ExcessGap(
        excess, 0.0, excess, excess - Z_95 * se, excess + Z_95 * se, 500, 200, "segment"
    )
    return ThresholdRow(share, share, None, True, gap)


def test_candidates_below_the_boundary_use_its_standard_error() -> None:
    z = float(norm.ppf(CANDIDATE_CONFIDENCE))
    # The boundary (largest share with an estimate under the target) has se 0.01; the
    # candidate at 0.2 has an estimate of 0.03 but se 0.02 of its own (fewer pairs below it).
    rows = [
        _row(0.1, 0.025, 0.03),
        _row(0.2, 0.03, 0.02),
        _row(0.3, 0.045, 0.01),
        _row(0.4, 0.06, 0.008),
    ]
    assert 0.03 + z * 0.02 > 0.05 > 0.03 + z * 0.01
    best = recommend(rows, 0.05)
    assert best is not None and best.cheap_share == 0.2
    assert standard_error(best.gap) == pytest.approx(0.02)
    # Its own bound alone would have refused it, and everything above it.
    assert all(upper_bound(r.gap) >= 0.05 for r in rows[1:])
    # A wider boundary widens every bound below it: nothing is certified then.
    rows[2] = _row(0.3, 0.045, 0.02)
    assert recommend(rows, 0.05) is None
    # Uncovered rows and rows without an estimate are never the boundary nor the pick.
    rows = [_row(0.1, 0.01, 0.01), replace(_row(0.2, 0.0, 0.001), covered=False)]
    best = recommend(rows, 0.05)
    assert best is not None and best.cheap_share == 0.1


def test_reverse_shadow_covers_looser_thresholds() -> None:
    rng = np.random.default_rng(2)
    params = replace(BASE, threshold=0.15)
    period = generate(params, N, rng)
    reverse = reverse_pairs(period, rng, params)
    rows = threshold_table(period, _pairs(period, reverse), _noise(rng), WeightedSums())
    covered = [r.threshold for r in rows if r.covered]
    assert max(covered) > 0.35  # the reverse shadow saw up to 0.15 + 0.25
    without = threshold_table(period, _pairs(period), _noise(rng), WeightedSums())
    assert max(r.threshold for r in without if r.covered) <= 0.15
    # With a 10% target the true limit is 0.5: looser than today's 0.15, seen only in reverse.
    best = recommend(rows, 0.10)
    assert best is not None and 0.15 < best.threshold <= 0.5
    stuck = recommend(without, 0.10)
    assert stuck is not None and stuck.threshold <= 0.15


def test_direction_above_mirrors_below() -> None:
    rng = np.random.default_rng(3)
    period = generate(BASE, N, rng)
    mirrored = replace(period, score=1.0 - period.score)
    pairs = _pairs(period)
    noise = _noise(rng)
    below = threshold_table(period, pairs, noise, WeightedSums())
    above = threshold_table(
        mirrored, replace(pairs, score=1.0 - pairs.score), noise, WeightedSums(), cheap_below=False
    )
    best_below, best_above = recommend(below, 0.05), recommend(above, 0.05)
    assert best_below is not None and best_above is not None
    assert best_above.cheap_share == pytest.approx(best_below.cheap_share, abs=0.051)


def _seed_segment(key: str) -> None:
    rng = np.random.default_rng(4)
    n = 3000
    period = generate(replace(BASE, sample_rates=(0.5, 1.0)), n, rng)
    start = datetime.now(UTC) - timedelta(days=3)
    with session_scope() as session:
        segment = Segment(key=key, dimensions={})
        session.add(segment)
        session.flush()
        ids = store_period(session, segment, period, start, timedelta(minutes=1), "t")
        # Reverse-shadow verdicts for flagship-routed requests scored in [0.5, 0.75).
        for i, event_pk in enumerate(ids):
            if period.cheap[i] == 0 and period.score[i] < 0.75 and rng.random() < 0.5:
                won = rng.random() < 0.05 + 0.4 * period.score[i]
                session.add(
                    Verdict(
                        event_pk=event_pk,
                        segment_id=segment.id,
                        kind="reverse",
                        judge="answer-match",
                        winner="flagship" if won else "tie",
                        gap_score=1.0 if won else 0.0,
                        inclusion_probability=0.5,
                        raw={},
                    )
                )


def test_api_cli_and_chart(any_db: str, configure, client: TestClient) -> None:
    client.headers.update(auth("read"))
    configure(target_excess_gap=0.25, attribution_resamples=0)
    _seed_segment("tenant=acme")
    body = client.get("/v1/segments/tenant=acme/thresholds", params={"days": 7}).json()
    assert body["events"] == 3000 and body["reverse_pairs"] > 100
    assert body["current_threshold"] == pytest.approx(0.5, abs=0.01)
    covered = [r["threshold"] for r in body["thresholds"] if r["covered"]]
    assert max(covered) > 0.7
    best = body["recommended"]
    assert best is not None and best["excess_gap"] < 0.25
    # The raw flagship-wins rate below t is 0.05 + 0.2 t (no noise pairs here), under 25%
    # everywhere: the loosest threshold the reverse shadow covers is the pick.
    assert best["threshold"] == max(covered) and 0.5 < best["threshold"] <= 0.8
    assert client.get("/v1/segments/nope/thresholds").status_code == 404
    assert client.get("/v1/segments/tenant=acme/thresholds", params={"days": 0}).status_code == 422

    result = CliRunner().invoke(app, ["thresholds", "--segment", "tenant=acme"])
    assert result.exit_code == 0, result.output
    assert "recommended:" in result.output and "uncovered" in result.output
    marked = [line for line in result.output.splitlines() if line.startswith("*")]
    assert len(marked) == 1 and f"{best['threshold']:.4f}" in marked[0]

    html = client.get("/segments/" + quote("tenant=acme", safe="")).text
    chart = re.search(r'<svg[^>]*data-signal="thresholds".*?</svg>', html, re.S)
    assert chart is not None
    shares = [float(s) for s in re.findall(r'data-share="([\d.e-]+)" data-v', chart.group(0))]
    assert len(shares) >= 10 and 'class="pt best"' in chart.group(0)
    assert "<script" not in chart.group(0)
