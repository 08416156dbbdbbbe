"""Whether an event's stored slice features satisfy a slice's conditions: the one rule that
discovery, exploration's boosts and the slices' routing proposals all match by. Kept in ``db``
(it reads the stored ``slice_features.values`` format) because attribution, which proposes
for slices, sits below the slices package."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def holds(features: Mapping[str, Any] | None, conditions: Sequence[tuple[str, Any]]) -> bool:
    """Every condition holds; a list-valued feature (tags) holds a value it contains."""
    if not features:
        return False
    for name, value in conditions:
        got = features.get(name)
        if isinstance(got, list):
            if value not in got:
                return False
        elif got != value:
            return False
    return True
