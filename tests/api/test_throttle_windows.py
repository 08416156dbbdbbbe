"""The throttle's windows and buckets (shadowgap.api.auth.throttle), on PostgreSQL: a window
ends when it says, earlier windows are deleted, nothing readable is stored, and an IPv6 client
is its /64. The behaviour through HTTP is in test_throttle.py."""

from __future__ import annotations

from sqlalchemy import select

from shadowgap.api.auth import throttle
from shadowgap.config import get_settings
from shadowgap.db import models
from shadowgap.db.engine import get_sessionmaker, session_scope


def test_a_window_ends_and_earlier_windows_are_forgotten(production: str) -> None:
    settings = get_settings()
    policy = throttle.Policy(throttle.KEY, max_failures=2, window_seconds=60)
    names = throttle.buckets(settings, policy, "198.51.100.1", "some-wrong-key")
    assert len(names) == 2  # the client's and the key prefix's
    with session_scope() as db:
        assert throttle.add_failure(db, policy, names, now=1000.0) is None
        assert throttle.add_failure(db, policy, names, now=1001.0) is None
        # The window started at 960: 20 s left.
        assert throttle.add_failure(db, policy, names, now=1000.0) == 20
        assert throttle.blocked(db, policy, names, now=1019.5) == 1
        assert throttle.blocked(db, policy, names, now=1020.0) is None
        assert throttle.add_failure(db, policy, names, now=1020.0) is None
    with get_sessionmaker()() as db:
        rows = db.scalars(select(models.AuthFailureWindow)).all()
    assert sorted((r.window_start, r.failures) for r in rows) == [(1020, 1), (1020, 1)]
    # Neither the address nor the key is stored, only keyed digests.
    assert all("198.51" not in r.bucket and "wrong" not in r.bucket for r in rows)


def test_an_ipv6_client_is_its_64() -> None:
    assert throttle.client_of("2001:db8:0:0:1::1") == throttle.client_of("2001:db8::ffff")
    assert throttle.client_of("2001:db8::1") != throttle.client_of("2001:db8:0:1::1")
    assert throttle.client_of("::ffff:192.0.2.1") == "192.0.2.1"
    assert throttle.client_of(None) == "unknown"
