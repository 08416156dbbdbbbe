"""Time windows given as ISO 8601 intervals ('2026-11-01T00:00Z/2026-11-08T00:00Z')."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from shadowgap.attribution.periods import Window
from shadowgap.errors import InvalidInput

DEFAULT_DAYS = 7


def _moment(text: str, field: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(f"{field}: {text!r} is not an ISO 8601 date-time", field=field) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def parse_interval(text: str, field: str) -> Window:
    """'START/END' (naive times are UTC) as a time window; END must be after START."""
    start_text, sep, end_text = text.partition("/")
    if not sep or not start_text.strip() or not end_text.strip():
        raise InvalidInput(f"{field} must be an interval 'START/END' in ISO 8601", field=field)
    start, end = _moment(start_text, field), _moment(end_text, field)
    if end <= start:
        raise InvalidInput(f"{field}: the end must be after the start", field=field)
    return Window(start=start, end=end)


def default_windows(now: datetime) -> tuple[Window, Window]:
    """The last seven days against the seven days before them."""
    week = timedelta(days=DEFAULT_DAYS)
    return Window(start=now - 2 * week, end=now - week), Window(start=now - week, end=now)
