"""The segments a change's scope names (the rule is :mod:`shadowgap.db.scope`)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from shadowgap.db.models import Segment
from shadowgap.db.scope import in_scope, scope_pairs
from shadowgap.errors import InvalidInput

MAX_SCOPE = 512


def parse_scope(scope: str, dimensions: list[str], field: str = "scope") -> dict[str, str]:
    """``{dimension: value}`` of a scope; a 422 naming ``field`` when it is malformed."""
    if not scope.strip() or len(scope) > MAX_SCOPE:
        raise InvalidInput(f"scope must be 1 to {MAX_SCOPE} characters", field=field)
    try:
        return scope_pairs(scope, dimensions)
    except ValueError as exc:
        raise InvalidInput(str(exc), field=field) from None


def scope_segments(session: Session, pairs: dict[str, str]) -> list[Segment]:
    """The segments in scope, busiest first."""
    segments = session.scalars(select(Segment).order_by(Segment.event_count.desc(), Segment.id))
    return [segment for segment in segments if in_scope(segment.dimensions or {}, pairs)]


def stored_scope_ids(session: Session, scope: str, dimensions: list[str]) -> set[int]:
    """The ids of the segments a recorded change's scope names now; none when it no longer
    parses (recorded under other segment dimensions, it names no segment now)."""
    try:
        pairs = scope_pairs(scope, dimensions)
    except ValueError:
        return set()
    return {segment.id for segment in scope_segments(session, pairs)}
