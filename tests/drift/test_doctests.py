"""Every docstring example in the package runs (seeded, so detectors' indices are pinned too).

Modules are found, not listed: a module that gains a ``>>>`` example is tested from then on.
"""

from __future__ import annotations

import doctest
import importlib
from pathlib import Path

import pytest

import shadowgap

PACKAGE = Path(shadowgap.__file__).parent
MODULES = sorted(
    "shadowgap." + ".".join(path.relative_to(PACKAGE).with_suffix("").parts)
    for path in PACKAGE.rglob("*.py")
    if ">>>" in path.read_text() and "migrations" not in path.parts
)


def test_the_examples_are_found() -> None:
    assert "shadowgap.drift.glr" in MODULES
    assert len(MODULES) >= 18


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0
