"""The throttle on guessing: failed sign-ins and wrong API keys, counted where every API process
sees them.

Failures are counted per *bucket* in fixed windows of ``SHADOWGAP_THROTTLE_WINDOW_SECONDS``.
Each attempt falls in two buckets: its client (the address uvicorn reports; an IPv6 client by
its /64, which one subscriber usually holds whole) and the first
``SHADOWGAP_THROTTLE_KEY_PREFIX_CHARS`` characters of the key it presented (a guess at one key
from many addresses). Buckets are stored as keyed digests, so the table holds neither
addresses nor key text. The limits differ by where the key is presented:

- **/login** (people): :func:`add_failure` counts the attempt *before* the key is checked,
  with an atomic increment; past ``SHADOWGAP_LOGIN_MAX_FAILURES`` the key is not checked at all
  and the answer is 429, the right key included, so the form is no oracle for a guesser.
  A successful sign-in gives its count back (:func:`release`).
- **Bearer keys** (senders, scripts): the key is checked first and a valid one always passes;
  only wrong keys are counted (:func:`add_failure`), and past ``SHADOWGAP_KEY_MAX_FAILURES``
  they answer 429 instead of 401. A sender sharing its address with a guesser (a NAT, a
  proxy, a cluster's egress) is never blocked; the price is that a guesser who ignores 429
  still tells a right key from a wrong one (docs/security.md, "Throttling guesses").

The counts live in the database rather than Redis: it is the one store every deployment has
(the embedded demo runs without Redis) and every API process shares. Valid keys never touch
it; a blocked attempt only reads it, so a flood writes no more than the limit's worth of
updates per bucket and window.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import math
import time
from dataclasses import dataclass

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from shadowgap.api.auth.sessions import signing_secret
from shadowgap.config import Settings
from shadowgap.db.models import AuthFailureWindow
from shadowgap.errors import ShadowgapError, TooManyRequests, Unauthorized

log = logging.getLogger(__name__)

LOGIN, KEY = "login", "key"


@dataclass(frozen=True)
class Policy:
    """How many failures of one kind a bucket may have in a window (0: no throttle)."""

    kind: str
    max_failures: int
    window_seconds: int

    @classmethod
    def for_login(cls, settings: Settings) -> Policy:
        return cls(LOGIN, settings.login_max_failures, settings.throttle_window_seconds)

    @classmethod
    def for_keys(cls, settings: Settings) -> Policy:
        return cls(KEY, settings.key_max_failures, settings.throttle_window_seconds)

    def window_start(self, now: float) -> int:
        return int(now // self.window_seconds) * self.window_seconds

    def retry_after(self, now: float) -> int:
        """Whole seconds until the current window ends (at least 1)."""
        return max(1, math.ceil(self.window_start(now) + self.window_seconds - now))


def client_of(host: str | None) -> str:
    """The client an address stands for: an IPv4 address itself, an IPv6 address's /64."""
    if not host:
        return "unknown"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host[:64]
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def buckets(settings: Settings, policy: Policy, host: str | None, token: str) -> list[str]:
    """The attempt's buckets as keyed digests, sorted (rows are always locked in one order)."""
    names = [f"client\n{client_of(host)}"]
    if settings.throttle_key_prefix_chars and token:
        names.append(f"prefix\n{token[: settings.throttle_key_prefix_chars]}")
    secret = signing_secret(settings)
    return sorted(
        hmac.new(secret, f"{policy.kind}\n{name}".encode(), hashlib.sha256).hexdigest()[:40]
        for name in names
    )


def blocked(db: Session, policy: Policy, names: list[str], now: float) -> int | None:
    """Seconds to wait when a bucket is already at its limit in this window, else None.
    Only reads: a throttled client adds no writes."""
    if policy.max_failures == 0:
        return None
    table = AuthFailureWindow
    highest = db.scalar(
        select(func.max(table.failures)).where(
            table.bucket.in_(names), table.window_start == policy.window_start(now)
        )
    )
    if highest is not None and highest >= policy.max_failures:
        return policy.retry_after(now)
    return None


def add_failure(db: Session, policy: Policy, names: list[str], now: float) -> int | None:
    """Count one failure in each bucket (the caller commits); seconds to wait when a bucket
    is now past its limit, else None.

    Each count is an atomic upsert that returns the new value, so concurrent API processes
    never lose a count and at most ``max_failures`` attempts per bucket see a count within
    the limit."""
    if policy.max_failures == 0:
        return None
    columns = AuthFailureWindow.__table__.c
    start = policy.window_start(now)
    insert = postgresql.insert if db.get_bind().dialect.name == "postgresql" else sqlite.insert
    counts = []
    for name in names:
        values = insert(AuthFailureWindow).values(bucket=name, window_start=start, failures=1)
        stmt = values.on_conflict_do_update(
            index_elements=[columns.bucket, columns.window_start],
            set_={"failures": columns.failures + 1},
        ).returning(columns.failures)
        counts.append(int(db.scalar(stmt) or 0))
    if 1 in counts:
        # A bucket's first failure in this window: forget earlier windows (they no longer
        # throttle anyone), so the table holds one window's worth of rows.
        db.execute(delete(AuthFailureWindow).where(AuthFailureWindow.window_start < start))
    if max(counts) == policy.max_failures + 1:
        log.warning(
            "authentication throttle engaged",
            extra={"kind": policy.kind, "retry_after_seconds": policy.retry_after(now)},
        )
    if max(counts) > policy.max_failures:
        return policy.retry_after(now)
    return None


def release(db: Session, policy: Policy, names: list[str], now: float) -> None:
    """Give back an attempt :func:`add_failure` counted that succeeded (the caller commits)."""
    if policy.max_failures == 0:
        return
    table = AuthFailureWindow
    db.execute(
        update(table)
        .where(
            table.bucket.in_(names),
            table.window_start == policy.window_start(now),
            table.failures > 0,
        )
        .values(failures=table.failures - 1)
    )


def count(db: Session, policy: Policy, names: list[str], now: float) -> int | None:
    """:func:`blocked`, else :func:`add_failure`: seconds to wait, or None (the caller
    commits)."""
    wait = blocked(db, policy, names, now)
    return wait if wait is not None else add_failure(db, policy, names, now)


def wrong_key(db: Session, settings: Settings, host: str | None, token: str) -> ShadowgapError:
    """The answer to a wrong bearer key, for the caller to raise: 401, or 429 once its client
    or key prefix is past ``SHADOWGAP_KEY_MAX_FAILURES`` in this window.

    The count is committed here, before the request goes on (nothing else is pending in the
    session: authentication comes first). When the database cannot count it the answer is
    still 401: the key is wrong either way, and a throttle that failed closed would turn a
    database hiccup into 429s."""
    policy = Policy.for_keys(settings)
    names = buckets(settings, policy, host, token)
    try:
        wait = count(db, policy, names, time.time())
        db.commit()
    except SQLAlchemyError as exc:
        db.rollback()
        log.warning("wrong API key not counted", extra={"error": type(exc).__name__})
        wait = None
    if wait is not None:
        return TooManyRequests(
            f"too many wrong API keys from this client or for this key prefix; retry in {wait} s",
            retry_after=wait,
        )
    return Unauthorized("invalid API key")
