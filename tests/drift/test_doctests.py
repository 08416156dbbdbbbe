"""The docstring examples of the drift package (seeded, so their indices are pinned too)."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "shadowgap.drift.budget",
    "shadowgap.drift.bernoulli_cusum",
    "shadowgap.drift.gaussian_cusum",
    "shadowgap.drift.two_sided",
    "shadowgap.drift.glr",
    "shadowgap.drift.self_starting",
    "shadowgap.drift.registry",
    "shadowgap.stats.estimates",
    "shadowgap.drift.signals",
]


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0
