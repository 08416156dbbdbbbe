"""The threshold proposals benchmark's oracle (benchmarks/loop_proposals.py) and its scoring."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.loop_proposals import Row, oracle, passed, score

T = 0.05
LIMIT = 0.25
THRESHOLDS = np.array([0.1, 0.2, 0.3, 0.4])


def _row(runs: int = 10) -> Row:
    # Run i estimates 0.05 - 0.001 i at 0.3 (past the limit): it breaks the target under any
    # margin below 0.001 i. Uncovered candidates carry an infinite estimate.
    row = Row()
    for i in range(runs):
        estimates = np.array([0.01, 0.02, T - 0.001 * i, np.inf if i == 0 else 0.06])
        row.tables.append((THRESHOLDS, THRESHOLDS.copy(), estimates))
    return row


def test_oracle_margin_is_the_smallest_that_exceeds_in_at_most_a_tenth_of_runs() -> None:
    margin, shares = oracle(_row(), LIMIT, T)
    # Critical margins 0, 0.001, ..., 0.009: at 0.008 only run 9 (0.009) breaks the target
    # (10%); any smaller margin lets run 8 break it too (20%).
    assert margin == pytest.approx(0.008)
    assert shares.tolist() == [0.2] * 9 + [0.3]
    assert np.mean(shares > LIMIT) <= 0.10


def test_oracle_margin_is_never_negative() -> None:
    row = Row()
    for _ in range(10):
        row.tables.append((THRESHOLDS, THRESHOLDS.copy(), np.array([0.01, 0.02, 0.3, 0.4])))
    margin, shares = oracle(row, LIMIT, T)
    assert margin == 0.0 and shares.tolist() == [0.2] * 10


def test_score_against_the_oracle_and_the_truth() -> None:
    row = _row()
    # The rule picks 0.2 in every run but one, where it picks 0.3 (past the limit).
    row.shipped = [(0.2, 0.2)] * 9 + [(0.3, 0.3)]
    row.previous = [(0.1, 0.1)] * 10
    result = score(row, lambda t: 0.2 * t, T, seed=1)
    assert result["limit"] == pytest.approx(LIMIT)
    shipped, previous = result["shipped"], result["previous"]
    assert shipped["exceed"] == pytest.approx(0.1) and previous["exceed"] == 0.0
    assert shipped["vs_oracle"] == pytest.approx(1.0)
    assert previous["vs_oracle"] == pytest.approx(1.0 / 2.1)
    low, high = previous["vs_oracle_ci"]
    assert low <= previous["vs_oracle"] <= high
    assert passed(shipped) and not passed(previous)
