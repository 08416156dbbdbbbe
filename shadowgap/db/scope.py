"""A router change's scope and the segments in it (``docs/changes.md``).

A scope is a segment key or a router-visible slice, both written like segment keys
(``tenant=hooli`` or ``tenant=hooli|team=search``) over the configured segment dimensions,
since those are what a segment's stored dimensions can be matched on; ``all`` names every
segment. A segment is in scope when its dimensions hold every pair, so a full segment key
names that segment and a shorter one every segment of the slice. Kept in ``db`` because the
drift store (re-baselining) and the changes package (recording, verification) both match
scopes, and drift sits below changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

ALL = "all"


def scope_pairs(scope: str, dimensions: list[str]) -> dict[str, str]:
    """``{dimension: value}`` of a scope; ValueError saying what is wrong with it."""
    text = scope.strip()
    if text == ALL:
        return {}
    # Longest first: a dimension may contain '=' ('tag:lang=') or be a prefix of another.
    known = sorted(dimensions, key=len, reverse=True)
    pairs: dict[str, str] = {}
    for part in text.split("|"):
        dim = next((d for d in known if part.startswith(d + "=")), None)
        if dim is None:
            raise ValueError(
                f"scope part {part!r} is not '<dimension>=<value>' with a segment dimension "
                f"({', '.join(dimensions) or 'none configured'}), nor 'all'"
            )
        if dim in pairs:
            raise ValueError(f"scope names {dim!r} twice")
        if len(part) == len(dim) + 1:
            raise ValueError(f"scope part {part!r} has no value")
        pairs[dim] = part[len(dim) + 1 :]
    return pairs


def in_scope(dimensions: Mapping[str, Any], pairs: Mapping[str, str]) -> bool:
    """Every ``dim=value`` of the scope is one of the segment's dimensions' values."""
    return all(str(dimensions.get(dim)) == value for dim, value in pairs.items())


def segment_in_scope(dimensions: Mapping[str, Any], scope: str, configured: list[str]) -> bool:
    """A stored scope against a segment; a scope that no longer parses (the dimensions were
    reconfigured since it was recorded) matches nothing."""
    try:
        return in_scope(dimensions, scope_pairs(scope, configured))
    except ValueError:
        return False
