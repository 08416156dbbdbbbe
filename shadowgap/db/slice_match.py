"""Whether an event's stored slice features satisfy a slice's conditions: the one rule that
discovery, exploration's boosts and the slices' routing proposals all match by. Kept in ``db``
(it reads the stored ``slice_features.values`` format) because attribution, which proposes
for slices, sits below the slices package.

``cadence`` is recorded at ingest as the class of the request's user over the last discovery
window (``shadowgap.slices.cadence``): a request stored before its user had a class has no
cadence, and no cadence condition holds for it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

# How a feature that is not read off the request itself is computed, for a router that
# matches it ({days}: the discovery window, SHADOWGAP_SLICE_WINDOW_DAYS).
DERIVED_DEFINITIONS = {
    "cadence": (
        "the class of the request's user, recomputed hourly from the user's requests over the "
        "{days:g} days before: requests per active hour (hours with at least one request) "
        "< 2 occasional, 2-9 interactive, 10-59 steady, >= 60 burst; anonymous without a user; "
        "none (never matches) for a user with no requests in those days"
    ),
}


def definitions(names: Iterable[str], window_days: float) -> dict[str, str]:
    """How each derived feature among ``names`` is computed (empty when none is derived)."""
    return {
        name: DERIVED_DEFINITIONS[name].format(days=window_days)
        for name in dict.fromkeys(names)
        if name in DERIVED_DEFINITIONS
    }


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
