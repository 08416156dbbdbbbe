"""The cadence feature per request: each user's class over the discovery window, stored by the
hourly run and read by ingest, so that a cadence condition can be matched per request.

Cadence (:func:`shadowgap.slices.features.cadence_bucket`: requests per active hour) is a
property of a user over time, not of one request. Discovery derives it over its own window
(:func:`window_cadences`). After each run, :func:`refresh` stores every user's class over that
window in ``user_cadence``; ingest records the class of the request's user from there
(:data:`cadence_cache`, re-read at most every ``REFRESH_SECONDS`` per process, at most
``MAX_USERS`` users: no query per event), as the ``cadence`` slice feature. A request without a
user is ``anonymous``; a user with no class yet (new since the last run, or beyond the bound)
gets none, so no cadence condition holds for that request.

The class is computed from traffic before the request only, so the exploration draw's
probability is fixed when the request is drawn (the sampling stays unbiased), and a router can
compute the same class from its own logs (``shadowgap.db.slice_match.DERIVED_DEFINITIONS``,
named in the proposals' rule).
"""

from __future__ import annotations

import threading
import time
from datetime import datetime
from typing import Any

from sqlalchemy import delete, distinct, func, insert, select
from sqlalchemy.orm import Session

from shadowgap.db import models
from shadowgap.slices.features import cadence_bucket

# Ingest re-reads the classes at most this often (they change once an hour).
REFRESH_SECONDS = 300.0
# The cache's bound: the users with the most requests in the window (a user beyond it is
# mostly occasional, and its requests get no class rather than unbounded memory).
MAX_USERS = 200_000
ANONYMOUS = "anonymous"


def window_cadences(session: Session, start: datetime, end: datetime) -> dict[str, str]:
    """Each user's class over the window ``[start, end)`` of event time (one GROUP BY)."""
    return {user: row[0] for user, row in _counts(session, start, end).items()}


def _counts(session: Session, start: datetime, end: datetime) -> dict[str, tuple[str, int, int]]:
    sf = models.SliceFeatures
    query = (
        select(sf.user_key, func.count(), func.count(distinct(sf.hour)))
        .where(sf.occurred_at >= start, sf.occurred_at < end, sf.user_key.is_not(None))
        .group_by(sf.user_key)
    )
    return {
        str(user): (cadence_bucket(int(n), int(h)), int(n), int(h))
        for user, n, h in session.execute(query)
    }


def refresh(session: Session, start: datetime, end: datetime) -> int:
    """Replace the stored classes by the window's (the run's transaction: ingest sees the old
    ones or the new ones, never a mix); returns the number of users."""
    counts = _counts(session, start, end)
    session.execute(delete(models.UserCadence))
    rows = [
        {"user_key": user, "cadence": c, "requests": n, "active_hours": h, "window_end": end}
        for user, (c, n, h) in counts.items()
    ]
    if rows:
        session.execute(insert(models.UserCadence), rows)
    return len(rows)


class CadenceCache:
    """The stored classes by user, for ingest (a process-wide cache; the writer thread and API
    workers share it under a lock)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._value: dict[str, str] = {}
        self._read_at = -1e18

    def get(self, session: Session) -> dict[str, str]:
        with self._lock:
            if time.monotonic() - self._read_at < REFRESH_SECONDS:
                return self._value
        uc = models.UserCadence
        query = select(uc.user_key, uc.cadence).order_by(uc.requests.desc()).limit(MAX_USERS)
        value = {str(user): str(c) for user, c in session.execute(query)}
        with self._lock:
            self._value, self._read_at = value, time.monotonic()
        return value

    def clear(self) -> None:
        with self._lock:
            self._value, self._read_at = {}, -1e18


cadence_cache = CadenceCache()


def class_of(features: dict[str, Any], classes: dict[str, str]) -> str | None:
    """The request's class: ``anonymous`` without a user, else its user's stored class (None
    when it has none yet)."""
    user = features.get("user")
    return classes.get(user) if user else ANONYMOUS
