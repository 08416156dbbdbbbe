"""The docstring examples of the drift package (seeded, so their indices are pinned too)."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "service.drift.budget",
    "service.drift.bernoulli_cusum",
    "service.drift.gaussian_cusum",
    "service.drift.two_sided",
    "service.drift.glr",
    "service.drift.self_starting",
    "service.drift.registry",
    "service.stats.estimates",
    "service.drift.signals",
]


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0
