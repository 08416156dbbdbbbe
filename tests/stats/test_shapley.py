"""Shapley decomposition: parts add up, a factor that does not move gets zero, symmetry."""

from __future__ import annotations

import numpy as np
import pytest

from shadowgap.stats.shapley import shapley_decomposition


def product(x: dict[str, float]) -> float:
    return x["a"] * x["b"] * x["c"]


def test_parts_add_up_to_the_change_in_any_factor_order() -> None:
    before = {"a": 0.5, "b": 0.2, "c": 3.0}
    after = {"a": 0.7, "b": 0.1, "c": 4.0}
    parts = shapley_decomposition(product, before, after)
    assert sum(parts.values()) == pytest.approx(product(after) - product(before))
    reordered = shapley_decomposition(
        product, dict(reversed(list(before.items()))), dict(reversed(list(after.items())))
    )
    assert reordered == pytest.approx(parts)


def test_a_factor_that_does_not_move_gets_nothing() -> None:
    parts = shapley_decomposition(product, {"a": 1, "b": 2, "c": 3}, {"a": 1, "b": 5, "c": 3})
    assert parts["a"] == 0 and parts["c"] == 0
    assert parts["b"] == pytest.approx(9.0)


def test_two_factor_product_matches_the_midpoint_formula() -> None:
    parts = shapley_decomposition(
        lambda x: x["s"] * x["g"], {"s": 0.4, "g": 0.1}, {"s": 0.6, "g": 0.3}
    )
    assert parts["s"] == pytest.approx(0.2 * (0.1 + 0.3) / 2)
    assert parts["g"] == pytest.approx(0.2 * (0.4 + 0.6) / 2)


def test_vectorised_values() -> None:
    before = {"a": np.array([1.0, 2.0]), "b": np.array([1.0, 1.0])}
    after = {"a": np.array([2.0, 2.0]), "b": np.array([1.0, 3.0])}
    parts = shapley_decomposition(lambda x: x["a"] * x["b"], before, after)
    assert parts["a"] == pytest.approx([1.0, 0.0])
    assert parts["b"] == pytest.approx([0.0, 4.0])


def test_mismatched_factors_are_refused() -> None:
    with pytest.raises(ValueError):
        shapley_decomposition(product, {"a": 1}, {"b": 1})
